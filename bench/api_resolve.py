"""REST API: request rate of `resolve` vs a trivial DRF endpoint, both served by gunicorn on PostgreSQL + Redis.

Target (issue, API performance): under a load generator on the same machine, `GET /api/v1/teams/{team}/prompts/
{slug}/resolve/?label=production` with an `X-API-Key` header sustains at least half the request rate of a
trivial DRF endpoint served by the same server, measured side by side in one run; report p50 and p99 latency.

What the script does, in order:
1. Creates a fresh PostgreSQL database (dropped first if it exists) on 127.0.0.1:5432 and uses Redis db 14 on
   127.0.0.1:6379; DATA_DIR is a temporary folder, so the generated secrets (the API key pepper among them)
   are shared by every subprocess and thrown away afterwards.
2. `manage.py migrate`, `manage.py bootstrap_demo` (team `demo`, prompt `support-intent` with label
   `production`), and one read API key issued through `accounts.services.api_key_create` as the system.
3. Starts gunicorn (sync workers) on a free port of 127.0.0.1 with a WSGI module written into the temporary
   folder. Its settings import `promptopt.settings` and only swap ROOT_URLCONF for a urls module that mounts
   `promptopt.urls` unchanged plus one extra `APIView` answering `{"ok": true}` under /api/v1/. That view uses
   `ApiKeyAuthentication` and inherits the API's default permission (`HasActor`) and rate limit
   (`ActorRateThrottle`, counted in Redis), so both endpoints authenticate, check and count the same way; the
   application itself gains no route. Rate limits are set far above what the run can reach, so the limiter
   is exercised on every request but never answers 429.
4. After a warm-up of both endpoints, runs `wrk` (closed loop, fixed connections) against one endpoint and
   then the other, alternating which goes first in each round, and reports per-round and median requests/s,
   p50 and p99, and the resolve/trivial ratio. Any non-2xx answer or socket error fails the run.
5. For information: the SQL queries per request of each endpoint and its in-process time (Django's test
   client, no HTTP, one process), so a missed target can be traced to what the resolve path does.
6. Stops gunicorn and drops the database, also when something fails.

Needs `wrk` (Debian: `apt-get install wrk`). Appends one JSON line per invocation to
bench/results/api_resolve.jsonl.

Run: .venv/bin/python bench/api_resolve.py [--rounds 5] [--duration 10] [--connections 8] [--workers 4]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _support import PROJECT_ROOT, invocation, machine_header, median, table

TARGET_RATIO = 0.5
DATABASE_NAME = "promptopt_bench_api"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"
TEAM = "demo"
PROMPT = "support-intent"
RESOLVE_PATH = f"/api/v1/teams/{TEAM}/prompts/{PROMPT}/resolve/?label=production"
TRIVIAL_PATH = "/api/v1/bench-trivial/"
RESULTS_FILE = PROJECT_ROOT / "bench" / "results" / "api_resolve.jsonl"
PYTHON = PROJECT_ROOT / ".venv" / "bin" / "python"
GUNICORN = PROJECT_ROOT / ".venv" / "bin" / "gunicorn"
SETTINGS_MODULE = "bench_api_settings"

# The server side of the comparison, written into the temporary folder and put on the subprocesses' path.
BENCH_MODULES = {
    "bench_api_settings.py": '''
        """promptopt.settings with one change: the URL conf adds the benchmark's trivial endpoint."""

        from promptopt.settings import *  # noqa: F403

        ROOT_URLCONF = "bench_api_urls"
    ''',
    "bench_api_urls.py": '''
        """promptopt.urls unchanged, plus a trivial DRF view with the API's authentication, permission and limit."""

        from django.urls import re_path
        from rest_framework.response import Response
        from rest_framework.views import APIView

        import promptopt.urls
        from promptopt.api.authentication import ApiKeyAuthentication


        class TrivialView(APIView):
            authentication_classes = [ApiKeyAuthentication]
            # permission_classes and throttle_classes: the API defaults (HasActor, ActorRateThrottle).

            def get(self, request, *args, **kwargs):
                return Response({"ok": True})


        urlpatterns = [
            re_path(r"^api/(?P<version>v[0-9]+)/bench-trivial/$", TrivialView.as_view()),
            *promptopt.urls.urlpatterns,
        ]
    ''',
    "bench_api_wsgi.py": '''
        """promptopt.wsgi under the benchmark's settings."""

        import os

        os.environ["DJANGO_SETTINGS_MODULE"] = "bench_api_settings"

        from promptopt.wsgi import application  # noqa: E402

        __all__ = ["application"]
    ''',
    # wrk: the key header, and the summary as one JSON line (latencies in microseconds) on stdout.
    "bench_api.lua": """
        wrk.headers["X-API-Key"] = os.getenv("BENCH_API_KEY")

        done = function(summary, latency, requests)
          io.write(string.format(
            '{"requests": %d, "duration_us": %d, "connect_errors": %d, "read_errors": %d, "write_errors": %d, '
              .. '"status_errors": %d, "timeouts": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\\n',
            summary.requests, summary.duration, summary.errors.connect, summary.errors.read,
            summary.errors.write, summary.errors.status, summary.errors.timeout,
            latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
        end
    """,
}

# In-process diagnostics: SQL queries and time per request of each endpoint through Django's test client.
DIAGNOSTICS = """
import cProfile, json, pstats, statistics, sys, time
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

key, paths, count = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
# Where a request's time goes under cProfile: (file, function); the outermost match's cumulative time counts.
PARTS = {
    "handler": ("django/core/handlers/base.py", "get_response"),
    "authentication": ("rest_framework/views.py", "perform_authentication"),
    "rate limit": ("rest_framework/views.py", "check_throttles"),
    "ORM reads": ("django/db/models/query.py", "_fetch_all"),
    "SQL compilation": ("django/db/models/sql/compiler.py", "as_sql"),
    "database round trips": ("psycopg/cursor.py", "execute"),
    "serializers": ("rest_framework/serializers.py", "data"),
}
client = Client(HTTP_HOST="127.0.0.1", HTTP_X_API_KEY=key)
figures = {}
for name, path in paths.items():
    for _ in range(20):
        client.get(path)
    with CaptureQueriesContext(connection) as context:
        status = client.get(path).status_code
    # Copied now: the next request's request_started signal empties the connection's query log.
    queries = list(context.captured_queries)
    figures[name] = {"status": status, "queries": len(queries), "sql": [query["sql"] for query in queries]}
timings = {name: [] for name in paths}
for _ in range(count):  # the endpoints alternate, so both see the same machine load
    for name, path in paths.items():
        started = time.perf_counter()
        client.get(path)
        timings[name].append(time.perf_counter() - started)
for name, path in paths.items():
    figures[name]["median_ms"] = statistics.median(timings[name]) * 1000
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(count):
        client.get(path)
    profiler.disable()
    stats = pstats.Stats(profiler).stats
    figures[name]["profile_ms"] = {
        part: max(
            [entry[3] for (file, _, function), entry in stats.items() if file.endswith(suffix) and function == wanted],
            default=0.0,
        ) * 1000 / count
        for part, (suffix, wanted) in PARTS.items()
    }
print("BENCH-DIAGNOSTICS " + json.dumps(figures))
"""


@dataclass(frozen=True)
class LoadFigures:
    endpoint: str
    round: int
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds, each measuring both endpoints (default 5)")
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per endpoint and round (default 10)")
    parser.add_argument(
        "--warmup", type=int, default=3, help="seconds of unrecorded load per endpoint first (default 3)"
    )
    parser.add_argument("--connections", type=int, default=8, help="wrk connections kept busy (default 8)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (default 1)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers (default 4)")
    parser.add_argument("--diagnostic-requests", type=int, default=200, help="in-process timed requests (default 200)")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help="JSON lines file appended to")
    args = parser.parse_args()
    if args.rounds < 1 or args.duration < 1 or args.connections < args.threads:
        parser.error("need --rounds >= 1, --duration >= 1 and --connections >= --threads")
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")

    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the finally below still stops gunicorn and drops the
    # database.
    signal.signal(signal.SIGTERM, lambda _signal, _frame: sys.exit(128 + signal.SIGTERM))
    started_at = datetime.now(UTC)
    load_before = os.getloadavg()[0]
    header = machine_header(invocation())
    with tempfile.TemporaryDirectory(prefix="promptopt-bench-api-") as temp:
        folder = Path(temp)
        for name, text in BENCH_MODULES.items():
            (folder / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        env = bench_environment(folder)
        server: subprocess.Popen[bytes] | None = None
        database_created = False
        try:
            database_recreate()
            database_created = True
            manage(env, "migrate", "--noinput", "-v", "0")
            manage(env, "bootstrap_demo", "--quiet")
            api_key = api_key_issue(env)
            port = free_port()
            server = gunicorn_start(env, folder, port, args.workers)
            base = f"http://127.0.0.1:{port}"
            check_answers(base, api_key)
            lua = folder / "bench_api.lua"
            for path in (RESOLVE_PATH, TRIVIAL_PATH):  # warm-up: imports, connections, caches in every worker
                wrk_run(wrk, lua, base + path, api_key, args.warmup, args.connections, args.threads)
            figures: list[LoadFigures] = []
            for round_number in range(1, args.rounds + 1):
                order = [("resolve", RESOLVE_PATH), ("trivial", TRIVIAL_PATH)]
                if round_number % 2 == 0:
                    order.reverse()
                for endpoint, path in order:
                    summary = wrk_run(wrk, lua, base + path, api_key, args.duration, args.connections, args.threads)
                    figures.append(load_figures(endpoint, round_number, summary))
            load_average = (load_before, os.getloadavg()[0])
            server_alive = server.poll() is None
            diagnostics = in_process_diagnostics(env, api_key, args.diagnostic_requests)
        finally:
            if server is not None:
                gunicorn_stop(server)
            if database_created:
                database_drop()

    report(args, header, figures, diagnostics, load_average, server_alive, started_at)


def bench_environment(folder: Path) -> dict[str, str]:
    """The subprocesses' environment: the benchmark's database, Redis db and data folder, limits out of reach."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": SETTINGS_MODULE,
            "PYTHONPATH": os.pathsep.join([str(folder), str(PROJECT_ROOT)]),
            "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{DATABASE_NAME}",
            "REDIS_URL": REDIS_URL,
            "DATA_DIR": str(folder / "data"),
            "DEBUG": "false",
            # WhiteNoise warns in every worker that STATIC_ROOT was never collected; the API serves no files.
            "PYTHONWARNINGS": "ignore:No directory at:UserWarning",
            "API_RATE_READ": "1000000/m",
            "API_RATE_WRITE": "1000000/m",
            "API_RATE_RUNS": "1000000/m",
            "API_RATE_TOKENS": "1000000/m",
        }
    )
    return env


def database_recreate() -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE_NAME} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE_NAME}")


def database_drop() -> None:
    import psycopg

    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE_NAME} WITH (FORCE)")


def manage(env: dict[str, str], *arguments: str) -> str:
    completed = subprocess.run(  # noqa: S603 - our own interpreter and manage.py, fixed arguments
        [str(PYTHON), "manage.py", *arguments],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"manage.py {arguments[0]} failed:\n{completed.stdout}\n{completed.stderr}")
    return completed.stdout


def api_key_issue(env: dict[str, str]) -> str:
    """A read key for the demo team, issued by the service as the system; only its raw value comes back."""
    code = (
        "from accounts.actors import Actor\n"
        "from accounts.models import Team\n"
        "from accounts.services import api_key_create\n"
        f"issued = api_key_create(team=Team.objects.get(slug={TEAM!r}), name='benchmark', "
        "actor=Actor.system('benchmark'))\n"
        "print('BENCH-KEY ' + issued.raw_key)\n"
    )
    for line in manage(env, "shell", "-c", code).splitlines():
        if line.startswith("BENCH-KEY "):
            return line.removeprefix("BENCH-KEY ")
    raise SystemExit("the API key was not printed")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gunicorn_start(env: dict[str, str], folder: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    # No --access-logfile: gunicorn writes no access log unless asked, so the log costs neither side anything.
    server = subprocess.Popen(  # noqa: S603 - the venv's gunicorn, fixed arguments
        [
            str(GUNICORN),
            "bench_api_wsgi:application",
            "--pythonpath",
            str(folder),
            "--chdir",
            str(PROJECT_ROOT),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--log-level",
            "warning",
        ],
        cwd=PROJECT_ROOT,
        env=env,
    )
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {server.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    gunicorn_stop(server)
    raise SystemExit("gunicorn did not answer /healthz within 60 s")


def gunicorn_stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)  # graceful: the arbiter stops its workers
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def check_answers(base: str, api_key: str) -> None:
    """Both endpoints answer 200 with what they should before any load; a bad key is refused by both."""
    import httpx

    headers = {"X-API-Key": api_key}
    resolved = httpx.get(base + RESOLVE_PATH, headers=headers, timeout=10)
    trivial = httpx.get(base + TRIVIAL_PATH, headers=headers, timeout=10)
    if resolved.status_code != 200 or resolved.json().get("label") != "production":
        raise SystemExit(f"resolve answered {resolved.status_code}: {resolved.text[:300]}")
    if trivial.status_code != 200 or trivial.json() != {"ok": True}:
        raise SystemExit(f"trivial answered {trivial.status_code}: {trivial.text[:300]}")
    for path in (RESOLVE_PATH, TRIVIAL_PATH):
        refused = httpx.get(base + path, headers={"X-API-Key": "po_0123456789_wrong"}, timeout=10)
        if refused.status_code != 401:
            raise SystemExit(f"{path} answered {refused.status_code} to a wrong key, not 401")


def wrk_run(
    wrk: str, lua: Path, url: str, api_key: str, seconds: int, connections: int, threads: int
) -> dict[str, Any]:
    completed = subprocess.run(  # noqa: S603 - wrk from PATH, fixed arguments
        [wrk, "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s", "-s", str(lua), url],
        env={**os.environ, "BENCH_API_KEY": api_key},
        capture_output=True,
        text=True,
        check=False,
    )
    for line in completed.stdout.splitlines():
        if line.startswith("{"):
            summary: dict[str, Any] = json.loads(line)
            return summary
    raise SystemExit(f"wrk printed no summary (status {completed.returncode}):\n{completed.stdout}\n{completed.stderr}")


def load_figures(endpoint: str, round_number: int, summary: dict[str, Any]) -> LoadFigures:
    errors = sum(
        summary[name] for name in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    if errors:
        raise SystemExit(f"{endpoint}, round {round_number}: {errors} failed requests ({summary})")
    seconds = summary["duration_us"] / 1e6
    return LoadFigures(
        endpoint=endpoint,
        round=round_number,
        requests=summary["requests"],
        seconds=seconds,
        requests_per_second=summary["requests"] / seconds,
        p50_ms=summary["p50_us"] / 1000,
        p90_ms=summary["p90_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        max_ms=summary["max_us"] / 1000,
        errors=errors,
    )


def in_process_diagnostics(env: dict[str, str], api_key: str, count: int) -> dict[str, Any]:
    paths = json.dumps({"resolve": RESOLVE_PATH, "trivial": TRIVIAL_PATH})
    completed = subprocess.run(  # noqa: S603 - our own interpreter, a fixed script
        [str(PYTHON), "-c", "import django; django.setup()\n" + DIAGNOSTICS, api_key, paths, str(count)],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in completed.stdout.splitlines():
        if line.startswith("BENCH-DIAGNOSTICS "):
            figures: dict[str, Any] = json.loads(line.removeprefix("BENCH-DIAGNOSTICS "))
            for name, values in figures.items():
                if values["status"] != 200:
                    raise SystemExit(f"the in-process {name} request answered {values['status']}")
            return figures
    raise SystemExit(f"the diagnostics failed:\n{completed.stdout}\n{completed.stderr}")


def report(
    args: argparse.Namespace,
    header: str,
    figures: list[LoadFigures],
    diagnostics: dict[str, Any],
    load_average: tuple[float, float],
    server_alive: bool,
    started_at: datetime,
) -> None:
    by_endpoint = {name: [f for f in figures if f.endpoint == name] for name in ("resolve", "trivial")}
    ratios = [
        resolve.requests_per_second / trivial.requests_per_second
        for resolve, trivial in zip(by_endpoint["resolve"], by_endpoint["trivial"], strict=True)
    ]
    medians = {
        name: {
            "requests_per_second": median([f.requests_per_second for f in rows]),
            "p50_ms": median([f.p50_ms for f in rows]),
            "p99_ms": median([f.p99_ms for f in rows]),
        }
        for name, rows in by_endpoint.items()
    }
    ratio = median(ratios)
    ratio_of_medians = medians["resolve"]["requests_per_second"] / medians["trivial"]["requests_per_second"]
    met = ratio >= TARGET_RATIO

    print(header)
    print(
        f"server: gunicorn, {args.workers} sync workers, 127.0.0.1; PostgreSQL 127.0.0.1:5432 (fresh database "
        f"{DATABASE_NAME}), Redis {REDIS_URL}\n"
        f"load: wrk, {args.threads} thread(s), {args.connections} connections, {args.duration} s per endpoint and "
        f"round after {args.warmup} s of warm-up each; order alternates by round\n"
        f"resolve: GET {RESOLVE_PATH}\ntrivial: GET {TRIVIAL_PATH} (APIView, ApiKeyAuthentication, API defaults)\n"
    )
    rows = [
        (
            f.round,
            f.endpoint,
            f"{f.requests:,}",
            f"{f.requests_per_second:.1f}",
            f"{f.p50_ms:.2f}",
            f"{f.p90_ms:.2f}",
            f"{f.p99_ms:.2f}",
            f"{f.max_ms:.1f}",
        )
        for f in figures
    ]
    print(table(["round", "endpoint", "requests", "requests/s", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows))
    print()
    summary_rows = [
        (
            name,
            f"{values['requests_per_second']:.1f}",
            f"{values['p50_ms']:.2f}",
            f"{values['p99_ms']:.2f}",
            diagnostics[name]["queries"],
            f"{diagnostics[name]['median_ms']:.2f}",
        )
        for name, values in medians.items()
    ]
    print(
        table(
            ["endpoint", "median requests/s", "median p50 ms", "median p99 ms", "SQL queries", "in-process ms"],
            summary_rows,
        )
    )
    print()
    print(
        f"resolve/trivial request rate: median of per-round ratios {ratio:.3f} "
        f"(per round: {', '.join(f'{r:.3f}' for r in ratios)}); ratio of medians {ratio_of_medians:.3f}"
    )
    print(f"target >= {TARGET_RATIO}: {'met' if met else 'MISSED'}")
    print(
        f"gunicorn still running after the load: {server_alive}; 1-minute load average before the run "
        f"{load_average[0]:.2f}, after the load {load_average[1]:.2f}"
    )
    parts = list(diagnostics["resolve"]["profile_ms"])
    print(
        f"\nwhere the time goes, in-process under cProfile ({args.diagnostic_requests} requests each; ms per request, "
        "inflated by the profiler; nested parts are included in the ones above them):"
    )
    print(
        table(
            ["part", "resolve ms", "trivial ms"],
            [
                (
                    part,
                    f"{diagnostics['resolve']['profile_ms'][part]:.2f}",
                    f"{diagnostics['trivial']['profile_ms'][part]:.2f}",
                )
                for part in parts
            ],
        )
    )
    print("\nSQL of one resolve request (in-process, after warm-up):")
    for number, sql in enumerate(diagnostics["resolve"]["sql"], start=1):
        print(f"  {number}. {sql}")
    print("SQL of one trivial request:")
    for number, sql in enumerate(diagnostics["trivial"]["sql"], start=1):
        print(f"  {number}. {sql}")

    record = {
        "date": started_at.strftime("%Y-%m-%d %H:%M UTC"),
        "command": invocation(),
        "machine": header.splitlines()[1].removeprefix("machine: "),
        "python": sys.version.split()[0],
        "workers": args.workers,
        "connections": args.connections,
        "threads": args.threads,
        "duration_seconds": args.duration,
        "rounds": [asdict(f) for f in figures],
        "medians": medians,
        "ratios": ratios,
        "ratio": ratio,
        "ratio_of_medians": ratio_of_medians,
        "target": TARGET_RATIO,
        "met": met,
        "queries": {name: diagnostics[name]["queries"] for name in medians},
        "in_process_ms": {name: diagnostics[name]["median_ms"] for name in medians},
        "profile_ms": {name: diagnostics[name]["profile_ms"] for name in medians},
        "load_average": {"before": load_average[0], "after_load": load_average[1]},
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with args.results.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")
    print(f"\nappended to {args.results}")


if __name__ == "__main__":
    main()
