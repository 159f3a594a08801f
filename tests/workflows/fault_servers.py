"""Local HTTP servers for fault tests: a scripted OpenAI-compatible model, and a fault-injecting proxy that
sits in front of any model server (this one, or a real llama.cpp / vLLM server) and answers a share of the
requests with 429 (with and without Retry-After), 500, 503, a timeout, a truncated or a malformed body.

The proxy decides per request with a seeded generator, and never fails the same request body more than
`max_consecutive` times in a row, so a client that retries enough always gets through: with the same model
behind it, a run must end exactly as it does without the proxy.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("429_retry_after", "429", "500", "503", "timeout", "truncated", "malformed")


def scripted_answer(prompt_text: str) -> str:
    """A deterministic stand-in for a small model: it names the sentiment of the last review in the prompt,
    but as a label only when the prompt names the labels; otherwise it chats (and misses an exact match)."""
    last_input = prompt_text.rsplit("review", 1)[-1]
    label = "positive" if "good" in last_input else "negative"
    if "positive" in prompt_text and "negative" in prompt_text:
        return label
    return f"I would say this one is {'good' if label == 'positive' else 'bad'}."


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class ModelServer(ThreadingHTTPServer):
    """An OpenAI-compatible server (chat and text completions) answering with `scripted_answer`.

    `calls` counts the requests received. `on_request`, when set, is called with each request's number as it
    arrives (1, 2, ...); when it returns True the request is left unanswered, as by a client that died."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ModelHandler)
        self.calls = 0
        self.lock = threading.Lock()
        self.on_request: Callable[[int], bool] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ModelHandler(_Quiet):
    server: ModelServer

    def do_POST(self) -> None:
        request = json.loads(self._body())
        with self.server.lock:
            self.server.calls += 1
            number = self.server.calls
        if self.server.on_request is not None and self.server.on_request(number):
            self.close_connection = True
            return
        if self.path.endswith("/chat/completions"):
            text = "\n".join(str(message.get("content", "")) for message in request["messages"])
            answer = scripted_answer(text)
            choice: dict[str, object] = {"index": 0, "message": {"role": "assistant", "content": answer}}
            kind = "chat.completion"
        else:
            answer = scripted_answer(str(request["prompt"]))
            choice = {"index": 0, "text": answer}
            kind = "text_completion"
        body = {
            "id": "scripted",
            "object": kind,
            "created": 0,
            "model": "scripted",
            "choices": [{**choice, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": len(str(request)) // 4, "completion_tokens": 3, "total_tokens": 0},
        }
        self._send(200, json.dumps(body).encode())


class FaultProxy(ThreadingHTTPServer):
    """Forwards POSTs to `upstream`, answering about `rate` of them with one of FAULTS instead."""

    daemon_threads = True

    def __init__(
        self,
        upstream: str,
        *,
        rate: float,
        seed: int = 0,
        timeout_seconds: float = 1.5,
        max_consecutive: int = 2,
        faults: tuple[str, ...] = FAULTS,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = urlsplit(upstream)
        self.rate = rate
        self.kinds = faults
        self.timeout_seconds = timeout_seconds
        self.max_consecutive = max_consecutive
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.faults: Counter[str] = Counter()
        self.forwarded = 0
        self._failing_in_a_row: Counter[bytes] = Counter()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: object, client_address: object) -> None:
        return  # a client that timed out closed its socket before the late answer: expected, not news

    def choose(self, body: bytes) -> str | None:
        with self.lock:
            fail = self.random.random() < self.rate
            if fail and (self.rate >= 1.0 or self._failing_in_a_row[body] < self.max_consecutive):
                self._failing_in_a_row[body] += 1
                fault = self.random.choice(self.kinds)
                self.faults[fault] += 1
                return fault
            self._failing_in_a_row[body] = 0
            self.forwarded += 1
            return None


class _ProxyHandler(_Quiet):
    server: FaultProxy

    def do_POST(self) -> None:
        body = self._body()
        fault = self.server.choose(body)
        if fault == "429_retry_after":
            self._send(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "0"})
        elif fault == "429":
            self._send(429, b'{"error": "rate limited"}')
        elif fault in ("500", "503"):
            self._send(int(fault), b'{"error": {"message": "the server had a problem"}}')
        elif fault == "timeout":
            time.sleep(self.server.timeout_seconds)  # longer than the client waits
            self._send(503, b'{"error": "too late"}')
        else:
            answer = self._forward(body)
            if fault == "truncated":
                self._send(200, answer[: len(answer) // 2])
            elif fault == "malformed":
                self._send(200, b'{"object": "chat.completion", "choices": "none"}')
            else:
                self._send(200, answer)

    def _forward(self, body: bytes) -> bytes:
        upstream = self.server.upstream
        connection = http.client.HTTPConnection(upstream.hostname or "127.0.0.1", upstream.port or 80, timeout=60)
        try:
            connection.request("POST", self.path, body, {"Content-Type": "application/json"})
            return connection.getresponse().read()
        finally:
            connection.close()


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
