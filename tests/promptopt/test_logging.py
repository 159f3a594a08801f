"""Request ids on web log lines and responses, run ids on worker lines, text or JSON output."""

from __future__ import annotations

import json
import logging

from django.test import Client

from promptopt.logs import ContextFilter, build_logging_config, log_context


def _format(config_format: str, record: logging.LogRecord) -> str:
    config = build_logging_config(log_format=config_format, level="INFO")
    formatter_config = dict(config["formatters"]["default"])
    if "()" in formatter_config:
        from pythonjsonlogger.json import JsonFormatter

        formatter: logging.Formatter = JsonFormatter(formatter_config["format"])
    else:
        formatter = logging.Formatter(formatter_config["format"])
    ContextFilter().filter(record)
    return formatter.format(record)


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("promptopt.test", logging.INFO, __file__, 1, message, None, None)


def test_it_tags_worker_lines_with_the_run_id_in_text_and_json():
    with log_context(run_id=42):
        text_line = _format("text", _record("step done"))
        json_line = json.loads(_format("json", _record("step done")))
    after = _format("text", _record("later"))

    assert "run=42" in text_line and "step done" in text_line
    assert (json_line["run_id"], json_line["message"], json_line["levelname"]) == ("42", "step done", "INFO")
    assert "run=-" in after


def test_it_gives_every_request_an_id_in_the_response(db):
    response = Client().get("/healthz")

    request_id = response["X-Request-ID"]
    assert response.status_code == 200 and len(request_id) == 32
    assert response.json()["status"] == "ok"


def test_it_keeps_a_safe_incoming_request_id_and_replaces_an_unsafe_one(db):
    client = Client()
    kept = client.get("/healthz", headers={"X-Request-ID": "proxy-abc-12345"})
    replaced = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})

    assert kept["X-Request-ID"] == "proxy-abc-12345"
    assert replaced["X-Request-ID"] != "bad id\nwith newline" and len(replaced["X-Request-ID"]) == 32


def test_it_logs_inside_a_request_with_that_requests_id(db, rf):
    from promptopt.middleware import RequestIdMiddleware

    seen: list[str] = []

    def view(request):
        record = _record("inside")
        ContextFilter().filter(record)
        seen.append(record.request_id)
        from django.http import HttpResponse

        return HttpResponse("ok")

    response = RequestIdMiddleware(view)(rf.get("/"))

    assert seen == [response["X-Request-ID"]]


def test_it_sends_the_site_root_to_the_web_uis_sign_in(db):
    response = Client().get("/")

    assert (response.status_code, response["Location"]) == (302, "/sign-in/?next=/")
