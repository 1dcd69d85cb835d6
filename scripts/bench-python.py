#!/usr/bin/env python3
"""httpx over httpswap against httpx's own transport, the
DefaultAioHttpClient stack (httpx over httpx_aiohttp) and aiohttp alone,
side by side.

Every client sends the same GETs (1 KiB bodies) to `httpswap __serve`, the
embedded server of `httpswap bench`, running in a process of its own. Each
client runs each scenario in a process of its own too, so that its peak RSS
is its own. The clients take turns, round after round, and each round's
ratios are taken against the httpx_aiohttp client of that round (medians of
the rounds' own ratios are printed).

Scenarios (`--scenarios`, default all):
- sustained: `--requests` GETs at `--concurrency` (keep-alive);
- burst: `--burst` GETs all at once on a client that has no connection yet;
- flaky: `--flaky-requests` GETs, 10 at a time, from a server that closes
  each connection after 1 to 5 requests without saying so (no
  `Connection: close`) and 0 to 10 ms idle; failures are counted, not
  raised, and no client retries on its own terms (httpx's `retries` stays
  0);
- dropping: the same from a harsher server (Python's, in a process of its
  own: its rate says little) that, when it closes a connection, first
  waits for the next request on it and drops that request unanswered, as
  the upstream of `crates/httpswap-py/tests/test_reverse_proxy.py` does.

    cargo build --release -p httpswap-cli
    (cd crates/httpswap-py && maturin build --release) && pip install target/wheels/httpswap-*.whl
    pip install httpx-aiohttp==0.2.0
    python3 scripts/bench-python.py [--requests 5000] [--rounds 5] [--scenarios sustained,burst,flaky,dropping]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time

SCENARIOS = ("sustained", "burst", "flaky", "dropping")


def clients(skip_slow: bool) -> list[str]:
    """The names of the clients measured; the first is the baseline."""
    out = ["httpx + httpx_aiohttp (DefaultAioHttpClient)", "aiohttp alone (no httpx)"]
    if not skip_slow:
        out.append("httpx, its own transport")
    out += [f"httpx + httpswap {b}" for b in ("hyper", "reqwest", "isahc")]
    return out


def make(name: str):
    """An async context manager whose `get(url)` answers with
    `status_code` and `content`: the client called `name`."""
    import httpx

    # the OpenAI SDK's limits, for every client
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    if name.startswith("httpx + httpx_aiohttp"):
        import httpx_aiohttp

        return httpx_aiohttp.HttpxAiohttpClient(limits=limits)
    if name.startswith("aiohttp alone"):
        return _AiohttpAlone()
    if name.startswith("httpx, its own"):
        return httpx.AsyncClient(limits=limits)
    import httpswap

    backend = name.rsplit(" ", 1)[1]
    return httpx.AsyncClient(transport=httpswap.AsyncHTTPTransport(backend, limits=limits))


class _AiohttpAlone:
    """aiohttp's ClientSession with the stack's limits."""

    class _Answer:
        def __init__(self, status: int, content: bytes) -> None:
            self.status_code = status
            self.content = content

    async def __aenter__(self):
        import aiohttp

        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1000, limit_per_host=0)
        )
        return self

    async def __aexit__(self, *exc) -> None:
        await self._session.close()

    async def get(self, url: str):
        async with self._session.get(url) as r:
            return self._Answer(r.status, await r.read())


def _rss_kib() -> int:
    """This process's resident set now, in KiB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


async def _run(name: str, scenario: str, url: str, requests: int, concurrency: int) -> dict:
    """One client, one scenario, in this process: requests per second, p99
    latency (ms), failures, and the process's RSS before and at its peak."""
    async with make(name) as client:
        if scenario == "sustained":
            for _ in range(min(concurrency, 50)):
                r = await client.get(url)
                if r.status_code != 200:
                    raise RuntimeError(f"warm-up answered {r.status_code}")
        before = _rss_kib()
        left = requests
        failures: list[str] = []
        latencies: list[float] = []

        async def worker():
            nonlocal left
            while left > 0:
                left -= 1
                sent = time.perf_counter()
                try:
                    r = await client.get(url)
                    if r.status_code != 200 or len(r.content) != 1024:
                        raise RuntimeError(f"{r.status_code}, {len(r.content)} bytes")
                except Exception as e:  # the flaky scenario counts them
                    if scenario not in ("flaky", "dropping"):
                        raise
                    failures.append(type(e).__name__)
                    continue
                latencies.append(time.perf_counter() - sent)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        took = time.perf_counter() - start
    latencies.sort()
    return {
        "rate": requests / took,
        "p99": 1000 * latencies[int(0.99 * (len(latencies) - 1))] if latencies else None,
        "failures": len(failures),
        "kinds": sorted(set(failures)),
        "rss_before": before,
        "rss_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def serve_dropping() -> None:
    """The `dropping` scenario's server: prints its URL, serves until its
    standard input closes."""
    import random
    import select
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = b"x" * 1024

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def setup(self):
            super().setup()
            self.left = random.randint(1, 5)

        def do_GET(self):
            self.send_response(200)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.left -= 1
            if self.left == 0:
                select.select([self.connection], [], [], 0.5)
                self.close_connection = True

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 1024

        def handle_error(self, request, client_address):
            pass

    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{srv.server_address[1]}/", flush=True)
    sys.stdin.read()


def child(a: argparse.Namespace) -> None:
    print(json.dumps(asyncio.run(_run(a.child, a.scenario, a.url, a.n, a.c))))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--burst", type=int, default=1000)
    p.add_argument("--flaky-requests", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--scenarios", default=",".join(SCENARIOS))
    p.add_argument("--server", default="target/release/httpswap", help="the httpswap binary")
    p.add_argument("--skip-httpx-default", action="store_true",
                   help="leave out httpx's own transport (the slowest by far)")
    # one client's run, in a process of its own (used by the parent)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--scenario", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("-n", type=int, help=argparse.SUPPRESS)
    p.add_argument("-c", type=int, help=argparse.SUPPRESS)
    p.add_argument("--serve-dropping", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        return child(a)
    if a.serve_dropping:
        return serve_dropping()
    scenarios = [s for s in a.scenarios.split(",") if s]
    for s in scenarios:
        if s not in SCENARIOS:
            sys.exit(f"unknown scenario {s!r}: expected some of {', '.join(SCENARIOS)}")
    if not os.path.exists(a.server):
        sys.exit(f"{a.server} is missing: cargo build --release -p httpswap-cli")
    try:
        import httpx_aiohttp  # noqa: F401
    except ImportError:
        sys.exit("pip install httpx-aiohttp==0.2.0: it is the baseline")
    server = subprocess.Popen(
        [a.server, "__serve", "--body-size", "1024"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    dropping_server = subprocess.Popen(
        [sys.executable, __file__, "--serve-dropping"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        plain, flaky = server.stdout.readline().split()[:2]
        dropping = dropping_server.stdout.readline().strip()
        measured = clients(a.skip_httpx_default)
        import httpx

        print(f"Python {sys.version.split()[0]}, httpx {httpx.__version__}; {a.rounds} rounds, "
              "each client in a process of its own; medians")
        for scenario in scenarios:
            url, n, c = {
                "sustained": (plain, a.requests, a.concurrency),
                "burst": (plain, a.burst, a.burst),
                "flaky": (flaky, a.flaky_requests, 10),
                "dropping": (dropping, a.flaky_requests, 10),
            }[scenario]
            runs: dict[str, list[dict]] = {name: [] for name in measured}
            for r in range(a.rounds):
                # a different client first in each round
                order = measured[r % len(measured):] + measured[: r % len(measured)]
                for name in order:
                    out = subprocess.run(
                        [sys.executable, __file__, "--child", name, "--scenario", scenario,
                         "--url", url, "-n", str(n), "-c", str(c)],
                        check=True, stdout=subprocess.PIPE, text=True,
                    ).stdout
                    runs[name].append(json.loads(out))
            report(scenario, n, c, measured, runs)
    finally:
        for s in (server, dropping_server):
            s.stdin.close()
            s.wait(timeout=10)


def report(scenario: str, n: int, c: int, measured: list[str], runs: dict) -> None:
    base = runs[measured[0]]
    print(f"\n{scenario}: {n} GETs of 1 KiB at concurrency {c}")
    # failures: of all the rounds' requests; the rest: medians of the rounds
    print(f"{'client':46} {'req/s':>7} {'x stack':>8} {'p99 ms':>8} {'failed':>8} "
          f"{'peak RSS':>9} {'growth':>8}")
    for name in measured:
        mine = runs[name]
        ratios = [m["rate"] / b["rate"] for m, b in zip(mine, base)]
        p99s = [m["p99"] for m in mine if m["p99"] is not None]
        failed = sum(m["failures"] for m in mine) / (n * len(mine))
        kinds = sorted({k for m in mine for k in m["kinds"]})
        peak = statistics.median(m["rss_peak"] for m in mine) / 1024
        growth = statistics.median(m["rss_peak"] - m["rss_before"] for m in mine) / 1024
        print(f"{name:46} {statistics.median(m['rate'] for m in mine):7.0f} "
              f"{statistics.median(ratios):7.2f}x "
              f"{statistics.median(p99s) if p99s else float('nan'):8.1f} {100 * failed:7.2f}% "
              f"{peak:5.1f} MiB {growth:4.1f} MiB" + (f"  ({', '.join(kinds)})" if kinds else ""))


if __name__ == "__main__":
    main()
