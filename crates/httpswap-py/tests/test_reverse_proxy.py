"""The scenario that started httpswap: a reverse proxy (aiohttp.web)
forwarding through httpx over httpswap to an upstream that closes its
keep-alive connections at random, without notice. Every request through
the proxy must succeed, on every backend."""

from __future__ import annotations

import asyncio
import random
import select
import threading
from http.server import BaseHTTPRequestHandler

import httpx
import pytest
from aiohttp import ClientSession, web

import httpswap

from conftest import serving

BODY = b"u" * 1024


class FlakyUpstream(BaseHTTPRequestHandler):
    """Serves 1 to 5 requests on a connection, then waits (up to 0.5 s)
    for the next one to arrive and closes the connection without reading
    or answering it: the client had every reason to reuse the connection,
    and its request is lost. No `Connection: close` warns it."""

    protocol_version = "HTTP/1.1"
    lock = threading.Lock()
    connections = 0
    dropped = 0  # requests that arrived on a connection as it was closed

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.left = random.randint(1, 5)
        with FlakyUpstream.lock:
            FlakyUpstream.connections += 1

    def do_GET(self):
        self.send_response(200)
        self.send_header("content-length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)
        self.wfile.flush()
        self.left -= 1
        if self.left == 0:
            readable, _, _ = select.select([self.connection], [], [], 0.5)
            if readable:
                with FlakyUpstream.lock:
                    FlakyUpstream.dropped += 1
            self.close_connection = True


@pytest.fixture
def flaky_upstream():
    FlakyUpstream.connections = FlakyUpstream.dropped = 0
    yield from serving(FlakyUpstream)


async def _proxy(upstream: str, transport: httpx.AsyncBaseTransport) -> tuple[web.AppRunner, str]:
    """An aiohttp.web reverse proxy forwarding GETs to `upstream` through
    an httpx.AsyncClient over `transport`; returns its runner and URL."""
    client = httpx.AsyncClient(transport=transport, base_url=upstream)

    async def forward(request: web.Request) -> web.Response:
        r = await client.get(request.path_qs)
        return web.Response(status=r.status_code, body=r.content)

    async def close_client(app: web.Application) -> None:
        await client.aclose()

    app = web.Application()
    app.router.add_get("/{tail:.*}", forward)
    app.on_cleanup.append(close_client)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


def test_reverse_proxy_over_a_flaky_upstream(flaky_upstream, backend):
    requests = 300

    async def main():
        runner, proxy = await _proxy(flaky_upstream, httpswap.AsyncHTTPTransport(backend))
        try:
            statuses: list[int] = []
            async with ClientSession() as downstream:
                async def one(i: int) -> None:
                    async with downstream.get(f"{proxy}/item/{i}") as r:
                        body = await r.read()
                        statuses.append(r.status)
                        assert r.status != 200 or body == BODY

                # 10 at a time, as a proxy's clients come
                for start in range(0, requests, 10):
                    await asyncio.gather(*(one(i) for i in range(start, start + 10)))
            return statuses
        finally:
            await runner.cleanup()

    statuses = asyncio.run(main())
    assert statuses == [200] * requests, {s: statuses.count(s) for s in set(statuses)}
    # the upstream did close under the proxy's feet: connections were
    # short-lived and requests were sent on connections as they closed
    assert FlakyUpstream.connections >= requests // 5
    assert FlakyUpstream.dropped > 0
