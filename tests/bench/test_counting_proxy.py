"""The bake-off's counting proxy: task calls and an optimizer model's calls are counted apart where they
arrive, so a system's uncached task calls never depend on its own (cache-blind) bookkeeping."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx

from tests.local_http import closed_local_port

# The bake-off harness is a script folder, not a package of the product: import it as its scripts do.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bakeoff_kit.server import OPTIMIZER_PREFIX, CallCounter, counting_proxy


def test_proxy_counts_task_and_optimizer_calls_apart_and_forwards_without_the_prefix(httpserver):
    httpserver.expect_request("/v1/completions", method="POST").respond_with_json({"choices": [{"text": "a"}]})
    httpserver.expect_request("/v1/chat/completions", method="POST").respond_with_json({"choices": []})
    httpserver.expect_request("/v1/models", method="GET").respond_with_json({"data": []})
    counter = CallCounter()

    with counting_proxy(httpserver.url_for("/"), counter, port=closed_local_port()) as base_url:
        task = httpx.post(f"{base_url}/v1/completions", json={"prompt": "x"})
        httpx.post(f"{base_url}/v1/completions", json={"prompt": "y"})
        optimizer = httpx.post(f"{base_url}{OPTIMIZER_PREFIX}/v1/chat/completions", json={"messages": []})
        httpx.get(f"{base_url}{OPTIMIZER_PREFIX}/v1/models")  # not a model call

    assert task.json() == {"choices": [{"text": "a"}]}
    assert optimizer.status_code == 200
    assert (counter.calls, counter.optimizer_calls) == (2, 1)
    assert [request.path for request, _ in httpserver.log] == [
        "/v1/completions",
        "/v1/completions",
        "/v1/chat/completions",
        "/v1/models",
    ]
