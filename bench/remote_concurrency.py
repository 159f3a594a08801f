"""Remote provider concurrency: 100 chat requests through the gateway with max_concurrency 16 vs 1.

Target (issue 3, Performance): against a local HTTP server that answers like an OpenAI/TGI chat endpoint
after 200 ms, 100 requests with concurrency 16 finish at least 10x faster than with concurrency 1.

The server is stdlib `ThreadingHTTPServer` on 127.0.0.1 (an ephemeral port) in a background thread of this
process: it sleeps 200 ms per request, like a model server whose latency is its own compute rather than this
machine's, and then answers `POST /v1/chat/completions` with a minimal valid chat completion. The requests go
through the real `HuggingFaceProvider` (huggingface_hub's InferenceClient over HTTP) and `Gateway` without a
cache; every prompt is distinct (the gateway sends identical requests only once). The two settings alternate
which runs first across repetitions. No traffic leaves 127.0.0.1, and the server is shut down at the end.

Ideal figures: 100 x 0.2 s = 20 s sequentially; ceil(100 / 16) = 7 rounds x 0.2 s = 1.4 s with 16 in
flight, a ratio of about 14.

Run: .venv/bin/python bench/remote_concurrency.py [--repeat 3] [--requests 100] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from _support import invocation, machine_header, median, table

from prompts.content import PromptContent
from prompts.rendering import render
from workflows.gateway.gateway import Gateway
from workflows.gateway.providers.huggingface import HuggingFaceProvider
from workflows.gateway.types import GenerationRequest

TARGET_RATIO = 10.0
SERVER_DELAY_SECONDS = 0.2
MAX_REQUESTS = 1000  # a bound on what one invocation may send, whatever the flags say
MODEL = "bench-chat-model"


class ServerStats:
    """What the fake server saw: requests answered and the most it had in flight at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.answered = 0
        self.in_flight = 0
        self.peak_in_flight = 0

    def reset(self) -> None:
        with self._lock:
            self.answered = self.in_flight = self.peak_in_flight = 0

    def started(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def finished(self) -> None:
        with self._lock:
            self.in_flight -= 1
            self.answered += 1


def make_handler(stats: ServerStats) -> type[BaseHTTPRequestHandler]:
    class ChatCompletionsHandler(BaseHTTPRequestHandler):
        # HTTP/1.1 keeps connections alive, as a real TGI/vLLM server does, so the client's pool reuses them.
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            stats.started()
            try:
                request = json.loads(body)
                prompt = request["messages"][-1]["content"]
                time.sleep(SERVER_DELAY_SECONDS)  # the model's latency; a sleep, so it costs no CPU here
                self._send(
                    200,
                    {
                        "id": "chatcmpl-bench",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": request.get("model") or MODEL,
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": "positive"},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": len(prompt.split()),
                            "completion_tokens": 1,
                            "total_tokens": len(prompt.split()) + 1,
                        },
                    },
                )
            finally:
                stats.finished()

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one access-log line per request would bury the table

    return ChatCompletionsHandler


def run_once(base_url: str, concurrency: int, prompts: list[str]) -> tuple[float, int]:
    """Wall time of one gateway run over the prompts, and how many requests succeeded."""
    provider = HuggingFaceProvider(
        model=MODEL,
        base_url=base_url,
        token=None,
        timeout_seconds=30,
        max_concurrency=concurrency,
        allow_private_base_url=True,  # the server is on loopback, which the deployment default refuses
    )
    spec = PromptContent(template="Review: {{text}}\nSentiment:", layout="completion")
    requests = [GenerationRequest(prompt=render(spec, {"text": prompt}), max_tokens=4) for prompt in prompts]
    gateway = Gateway(provider=provider)  # no cache: each request is a call
    started = time.perf_counter()
    results = gateway.run(requests)
    elapsed = time.perf_counter() - started
    return elapsed, sum(result.ok for result in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each setting (default 3)")
    parser.add_argument("--requests", type=int, default=100, help="requests per run (default 100)")
    parser.add_argument("--concurrency", type=int, default=16, help="the concurrent setting (default 16)")
    args = parser.parse_args()
    if args.requests * args.repeat * 2 > MAX_REQUESTS:
        raise SystemExit(f"refusing to send more than {MAX_REQUESTS} requests in one invocation")

    stats = ServerStats()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(stats))
    server.daemon_threads = True  # a stuck handler must not keep the process alive after shutdown
    server_thread = threading.Thread(target=server.serve_forever, name="fake-chat-server", daemon=True)
    server_thread.start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    rows: list[tuple[int, int, float, int, int]] = []
    try:
        batch = 0
        for rep in range(args.repeat):
            settings = [args.concurrency, 1] if rep % 2 == 0 else [1, args.concurrency]
            for concurrency in settings:
                batch += 1
                # Distinct prompts in every run: the gateway sends identical requests within a run only once.
                prompts = [f"bench run {batch} review {i}: a fine film" for i in range(args.requests)]
                stats.reset()
                elapsed, ok = run_once(base_url, concurrency, prompts)
                if ok != args.requests or stats.answered != args.requests:
                    raise SystemExit(f"{ok} of {args.requests} succeeded; the server answered {stats.answered}")
                rows.append((rep + 1, concurrency, elapsed, stats.answered, stats.peak_in_flight))
    finally:
        server.shutdown()
        server.server_close()
        server_thread.join(timeout=5)

    concurrent = [row[2] for row in rows if row[1] == args.concurrency]
    sequential = [row[2] for row in rows if row[1] == 1]
    per_rep_ratios = [s / c for s, c in zip(sequential, concurrent, strict=True)]
    ratio = median(per_rep_ratios)

    print(machine_header(invocation()))
    print(
        f"workload: {args.requests} distinct chat requests per run, server delay {SERVER_DELAY_SECONDS * 1000:.0f} ms\n"
    )
    print(
        table(
            ["rep", "max_concurrency", "wall s", "requests answered", "peak in flight at server"],
            [(rep, c, f"{seconds:.3f}", answered, peak) for rep, c, seconds, answered, peak in rows],
        )
    )
    print()
    print(
        table(
            ["max_concurrency", "median wall s", "median requests/s"],
            [
                (1, f"{median(sequential):.3f}", f"{args.requests / median(sequential):.1f}"),
                (args.concurrency, f"{median(concurrent):.3f}", f"{args.requests / median(concurrent):.1f}"),
            ],
        )
    )
    print()
    print(
        f"speed-up concurrency {args.concurrency} vs 1: median {ratio:.1f}x over {args.repeat} repetitions "
        f"(per repetition: {', '.join(f'{r:.1f}' for r in per_rep_ratios)}); target >= {TARGET_RATIO:.0f}x: "
        f"{'met' if ratio >= TARGET_RATIO else 'MISSED'}"
    )
    print(f"server shut down: {not server_thread.is_alive()}")


if __name__ == "__main__":
    main()
