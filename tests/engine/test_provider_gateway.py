"""A remote provider's real client behind the gateway: retries after 503/429 and budget stops, over real HTTP."""

from __future__ import annotations

from tests.engine.test_provider_huggingface import CHAT_PATH, completion_body, make_provider, request_for
from workflows.gateway.budget import Budget
from workflows.gateway.gateway import Gateway
from workflows.gateway.retry import RetryPolicy


def test_it_retries_a_503_and_a_429_with_retry_after_then_succeeds(httpserver):
    httpserver.expect_ordered_request(CHAT_PATH, method="POST").respond_with_json({"error": "overloaded"}, status=503)
    httpserver.expect_ordered_request(CHAT_PATH, method="POST").respond_with_json(
        {"error": {"message": "slow down"}}, status=429, headers={"Retry-After": "3"}
    )
    httpserver.expect_ordered_request(CHAT_PATH, method="POST").respond_with_json(completion_body("negative"))
    slept: list[float] = []
    gateway = Gateway(
        provider=make_provider(httpserver),
        retry=RetryPolicy(max_attempts=4, jitter_seconds=0),
        sleep=slept.append,
    )

    [result] = gateway.run([request_for()])

    assert result.generation is not None and result.generation.text == "negative"
    assert result.retries == 2 and len(httpserver.log) == 3
    assert slept[1] == 3  # the server's Retry-After, honoured exactly
    assert gateway.usage.calls == 1 and gateway.usage.retries == 2


def test_it_gives_up_on_a_4xx_at_once_with_the_servers_message(httpserver):
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(
        {"error": "Input validation error: `max_new_tokens` must be > 0"}, status=422
    )
    gateway = Gateway(provider=make_provider(httpserver), sleep=lambda seconds: None)

    [result] = gateway.run([request_for()])

    assert result.generation is None and "max_new_tokens" in result.error
    assert len(httpserver.log) == 1


def test_it_stops_at_the_call_budget_before_contacting_the_server_again(httpserver):
    httpserver.expect_request(CHAT_PATH, method="POST").respond_with_json(completion_body())
    gateway = Gateway(provider=make_provider(httpserver, max_concurrency=1), budget=Budget(max_calls=2))

    results = gateway.run([request_for(text=f"review {i}") for i in range(5)])

    assert [r.generation is not None for r in results] == [True, True, False, False, False]
    assert all(r.not_run for r in results[2:])
    assert len(httpserver.log) == 2
    assert "max_calls" in (gateway.exhausted_reason or "")


def test_vertex_is_retried_after_a_429_and_stopped_by_the_call_budget(httpserver):
    from tests.engine.test_provider_vertex import GENERATE_PATH, vertex_response
    from tests.engine.test_provider_vertex import make_provider as make_vertex
    from tests.engine.test_provider_vertex import request_for as vertex_request

    httpserver.expect_ordered_request(GENERATE_PATH, method="POST").respond_with_json(
        {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}},
        status=429,
        headers={"Retry-After": "2"},
    )
    httpserver.expect_request(GENERATE_PATH, method="POST").respond_with_json(vertex_response("negative"))
    slept: list[float] = []
    gateway = Gateway(
        provider=make_vertex(httpserver, max_concurrency=1), budget=Budget(max_calls=2), sleep=slept.append
    )

    results = gateway.run([vertex_request(text=f"review {i}") for i in range(4)])

    assert [r.generation.text if r.generation else None for r in results] == ["negative", "negative", None, None]
    assert results[0].retries == 1 and slept == [2]
    assert all(r.not_run for r in results[2:])
    assert len(httpserver.log) == 3  # one refused attempt, then one answer per allowed call
