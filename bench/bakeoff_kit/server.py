"""The one task model every system calls: llama.cpp's OpenAI-compatible server (or a server the user names),
behind a counting proxy, so uncached task calls are counted where they arrive, not by each system's own books."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

SERVER_PORT = 8765
PROXY_PORT = 8766
MODEL_ALIAS = "smollm2"
# SmolLM2-135M's own context limit. A smaller server context fails (HTTP 400) any prompt that does not fit, which
# on tasks with paragraph inputs is every DSPy program with sixteen demonstrations: the harness, not the
# optimizer, would decide the row. Rows before 2026-12-01 ran at 2,048 (prompts of their tasks fit).
CONTEXT_TOKENS = 8192
STARTUP_SECONDS = 120
# The path prefix under which the proxy serves the same model to an optimizer's own LM, so its calls are counted
# apart where they arrive. (Counting them by the client's history instead is wrong: DSPy records its cache hits
# there too, and subtracting those from the proxy's total undercounted the task calls.)
OPTIMIZER_PREFIX = "/optimizer"
# Headers a proxy must not copy from one hop to the next (RFC 9110 7.6.1), plus the length it recomputes.
HOP_HEADERS = frozenset(["connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"])


class CallCounter:
    """Model calls seen by the proxy (POSTs to a completions endpoint), task calls and optimizer-model calls
    apart, safe to read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls = 0
        self._optimizer_calls = 0

    def add(self, *, optimizer: bool = False) -> None:
        with self._lock:
            if optimizer:
                self._optimizer_calls += 1
            else:
                self._calls += 1

    @property
    def calls(self) -> int:
        """Task calls: every call that did not come through OPTIMIZER_PREFIX."""
        with self._lock:
            return self._calls

    @property
    def optimizer_calls(self) -> int:
        """Calls of an optimizer's own model (MIPROv2's prompt model, GEPA's reflection model)."""
        with self._lock:
            return self._optimizer_calls


@contextmanager
def llama_server(model_path: Path, *, port: int = SERVER_PORT, threads: int = 2) -> Iterator[str]:
    """llama-cpp-python's server for the GGUF file on 127.0.0.1, its base URL while the block runs."""
    log = (Path(__file__).resolve().parent.parent / "results" / "llama-server.log").open("ab")
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model_path), "--host", "127.0.0.1",
        "--port", str(port), "--n_ctx", str(CONTEXT_TOKENS), "--n_threads", str(threads), "--model_alias", MODEL_ALIAS,
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - our own command
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base_url, process)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@contextmanager
def counting_proxy(upstream: str, counter: CallCounter, *, port: int = PROXY_PORT) -> Iterator[str]:
    """A proxy to `upstream` on 127.0.0.1 that counts every model call passing through; its base URL (the same
    upstream under OPTIMIZER_PREFIX for an optimizer's own model)."""
    client = httpx.Client(base_url=upstream.rstrip("/"), timeout=600)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._forward("GET")

        def do_POST(self) -> None:
            self._forward("POST")

        def _forward(self, method: str) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            optimizer = self.path.startswith(f"{OPTIMIZER_PREFIX}/")
            path = self.path.removeprefix(OPTIMIZER_PREFIX) if optimizer else self.path
            if method == "POST" and path.rstrip("/").endswith("completions"):
                counter.add(optimizer=optimizer)
            headers = {name: value for name, value in self.headers.items() if name.lower() not in HOP_HEADERS}
            answer = client.request(method, path, content=body, headers=headers)
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in HOP_HEADERS and name.lower() != "content-encoding":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.content)))
            self.end_headers()
            self.wfile.write(answer.content)

        def log_message(self, format: str, *args: object) -> None:
            return  # the server keeps its own access log

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        client.close()


def _wait_until_up(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            code = process.returncode
            raise SystemExit(f"the llama.cpp server exited with code {code}: see bench/results/llama-server.log")
        try:
            if httpx.get(f"{base_url}/v1/models", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"the llama.cpp server did not answer within {STARTUP_SECONDS} s")
