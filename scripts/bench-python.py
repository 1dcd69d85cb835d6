#!/usr/bin/env python3
"""httpx over httpswap against httpx's own transport, the
DefaultAioHttpClient stack (httpx over httpx_aiohttp) and aiohttp alone,
side by side.

Every client sends the same GETs (1 KiB bodies, keep-alive) at the same
concurrency to `httpswap __serve`, the embedded server of `httpswap bench`,
running in a process of its own; the clients take turns, round after round,
and each round's ratios are taken against the httpx_aiohttp client of that
round (medians of the rounds' own ratios are printed).

    cargo build --release -p httpswap-cli
    (cd crates/httpswap-py && maturin build --release) && pip install target/wheels/httpswap-*.whl
    pip install httpx_aiohttp
    python3 scripts/bench-python.py [--requests 5000] [--concurrency 100] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

import httpx

import httpswap


def clients(skip_slow: bool):
    """(name, make an httpx.AsyncClient) for each client measured."""
    limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    out = []
    try:
        import httpx_aiohttp

        out.append(
            ("httpx + httpx_aiohttp (DefaultAioHttpClient)",
             lambda: httpx_aiohttp.HttpxAiohttpClient(limits=limits))
        )
    except ImportError:
        sys.exit("pip install httpx_aiohttp: it is the baseline")
    out.append(("aiohttp alone (no httpx)", lambda: _AiohttpAlone()))
    if not skip_slow:
        out.append(("httpx, its own transport", lambda: httpx.AsyncClient(limits=limits)))
    for backend in httpswap.BACKENDS:
        out.append((
            f"httpx + httpswap {backend}",
            lambda backend=backend: httpx.AsyncClient(
                transport=httpswap.AsyncHTTPTransport(backend, limits=limits)
            ),
        ))
    return out


class _AiohttpAlone:
    """aiohttp's ClientSession with the stack's limits, answering `get` with
    what `one_round` reads (status and content), for comparison."""

    class _Answer:
        def __init__(self, status: int, content: bytes) -> None:
            self.status_code = status
            self.content = content

        def raise_for_status(self) -> None:
            if self.status_code >= 400:
                raise RuntimeError(f"status {self.status_code}")

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


async def one_round(make, url: str, requests: int, concurrency: int) -> tuple[float, float]:
    """Requests per second and the 99th percentile latency (ms) of one
    client for one round (a warm-up first)."""
    async with make() as client:
        for _ in range(min(concurrency, 50)):
            (await client.get(url)).raise_for_status()
        left = requests
        done = 0
        latencies: list[float] = []

        async def worker():
            nonlocal left, done
            while left > 0:
                left -= 1
                sent = time.perf_counter()
                r = await client.get(url)
                latencies.append(time.perf_counter() - sent)
                if r.status_code != 200 or len(r.content) != 1024:
                    raise RuntimeError(f"bad answer: {r.status_code}, {len(r.content)} bytes")
                done += 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        took = time.perf_counter() - start
        assert done == requests
        latencies.sort()
        return requests / took, 1000 * latencies[int(0.99 * (len(latencies) - 1))]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--server", default="target/release/httpswap", help="the httpswap binary")
    p.add_argument("--skip-httpx-default", action="store_true",
                   help="leave out httpx's own transport (the slowest by far)")
    a = p.parse_args()
    if not os.path.exists(a.server):
        sys.exit(f"{a.server} is missing: cargo build --release -p httpswap-cli")
    server = subprocess.Popen(
        [a.server, "__serve", "--body-size", "1024"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        url = server.stdout.readline().split()[0] + "/"
        measured = clients(a.skip_httpx_default)
        rates: dict[str, list[float]] = {name: [] for name, _ in measured}
        p99s: dict[str, list[float]] = {name: [] for name, _ in measured}
        for r in range(a.rounds):
            # a different client first in each round
            order = measured[r % len(measured):] + measured[: r % len(measured)]
            for name, make in order:
                rate, p99 = asyncio.run(one_round(make, url, a.requests, a.concurrency))
                rates[name].append(rate)
                p99s[name].append(p99)
        base = measured[0][0]
        print(f"{a.requests} GETs of 1 KiB at concurrency {a.concurrency}, {a.rounds} rounds, "
              f"Python {sys.version.split()[0]}, httpx {httpx.__version__}")
        print(f"{'client':48} {'req/s':>8} {'x aiohttp stack':>16} {'p99 ms':>8}")
        for name, _ in measured:
            ratios = [x / b for x, b in zip(rates[name], rates[base])]
            print(f"{name:48} {statistics.median(rates[name]):8.0f} "
                  f"{statistics.median(ratios):15.2f}x {statistics.median(p99s[name]):8.1f}")
    finally:
        server.stdin.close()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
