"""httpswap's transports under httpx, on every backend: round trips,
streaming, httpx's exceptions, per-request timeouts, cancellation,
DefaultAsyncClient's defaults, a forked child."""

from __future__ import annotations

import asyncio
import os
import time

import httpx
import pytest

import httpswap


def run(coro):
    return asyncio.run(coro)


def test_async_round_trip(server, backend):
    async def main():
        async with httpx.AsyncClient(transport=httpswap.AsyncHTTPTransport(backend)) as c:
            r = await c.get(f"{server}/echo?x=1", headers={"x-test": "yes"})
            assert r.status_code == 200
            assert r.http_version == "HTTP/1.1"
            got = r.json()
            assert got["path"] == "/echo?x=1"
            assert got["headers"]["x-test"] == "yes"
            r = await c.post(f"{server}/echo", content=b"payload")
            assert r.json()["body"] == "payload"
            assert r.json()["method"] == "POST"
            # kept alive: the second request came on the first's connection
            first = (await c.get(f"{server}/echo")).json()["connection"]
            again = (await c.get(f"{server}/echo")).json()["connection"]
            assert first == again

    run(main())


def test_sync_round_trip(server, backend):
    with httpx.Client(transport=httpswap.HTTPTransport(backend)) as c:
        r = c.put(f"{server}/echo", json={"a": 1})
        assert r.status_code == 200
        assert r.json()["method"] == "PUT"
        assert r.json()["body"] == '{"a":1}' or r.json()["body"] == '{"a": 1}'
        assert c.get(f"{server}/nowhere").status_code == 404


def test_httpx_decodes_and_follows_redirects(server, backend):
    async def main():
        t = httpswap.AsyncHTTPTransport(backend)
        async with httpx.AsyncClient(transport=t, follow_redirects=True) as c:
            r = await c.get(f"{server}/gzip")
            assert r.content == b"unzipped"
            r = await c.get(f"{server}/redirect")
            assert r.status_code == 200 and r.url.path == "/echo"
            assert len(r.history) == 1

    run(main())


def test_response_streams_as_it_arrives(server, backend):
    async def main():
        async with httpx.AsyncClient(transport=httpswap.AsyncHTTPTransport(backend)) as c:
            async with c.stream("GET", f"{server}/chunks") as r:
                arrivals = []
                async for chunk in r.aiter_raw():
                    arrivals.append((chunk, time.monotonic()))
            body = b"".join(c for c, _ in arrivals)
            assert body == b"chunk0;chunk1;chunk2;"
            # the first chunk came before the last was sent
            assert arrivals[-1][1] - arrivals[0][1] > 0.2

    run(main())
    with httpx.Client(transport=httpswap.HTTPTransport(backend)) as c:
        with c.stream("GET", f"{server}/chunks") as r:
            assert b"".join(r.iter_raw()) == b"chunk0;chunk1;chunk2;"


def test_failures_are_httpx_exceptions(server, backend, refused_url):
    async def main():
        async with httpx.AsyncClient(transport=httpswap.AsyncHTTPTransport(backend)) as c:
            with pytest.raises(httpx.ConnectError) as e:
                await c.get(refused_url)
            assert e.value.request.url == refused_url
            with pytest.raises(httpx.ReadTimeout):
                await c.get(f"{server}/slow", timeout=httpx.Timeout(5.0, read=0.3))
            with pytest.raises(httpx.RemoteProtocolError):
                await c.get(f"{server}/truncated")
            with pytest.raises(httpx.UnsupportedProtocol):
                await c.get("ftp://127.0.0.1/")

    run(main())
    with httpx.Client(transport=httpswap.HTTPTransport(backend)) as c:
        with pytest.raises(httpx.ConnectError):
            c.get(refused_url)
        with pytest.raises(httpx.ReadTimeout):
            c.get(f"{server}/slow", timeout=0.3)


def test_per_request_timeout_overrides_the_clients(server, backend):
    async def main():
        t = httpswap.AsyncHTTPTransport(backend)
        async with httpx.AsyncClient(transport=t, timeout=0.3) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.get(f"{server}/slow")
            r = await c.get(f"{server}/slow", timeout=5.0)
            assert r.text == "late"

    run(main())


def test_a_cancelled_request_ends_at_once(server, backend):
    async def main():
        async with httpx.AsyncClient(transport=httpswap.AsyncHTTPTransport(backend)) as c:
            started = time.monotonic()
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.get(f"{server}/slow"), 0.2)
            assert time.monotonic() - started < 1.0
            # the transport is still usable
            assert (await c.get(f"{server}/echo")).status_code == 200

    run(main())


def test_default_async_client_has_the_openai_defaults(server):
    async def main():
        async with httpswap.DefaultAsyncClient() as c:
            assert c.timeout == httpx.Timeout(600.0, connect=5.0)
            assert c.follow_redirects is True
            r = await c.get(f"{server}/redirect")
            assert r.status_code == 200

    run(main())


def test_settings_httpswap_cannot_honour_are_refused():
    with pytest.raises(ValueError, match="backend"):
        httpswap.AsyncHTTPTransport("curl")
    with pytest.raises(ValueError, match="cert"):
        httpswap.AsyncHTTPTransport(cert="client.pem")
    import ssl

    with pytest.raises(ValueError, match="SSLContext"):
        httpswap.HTTPTransport(verify=ssl.create_default_context())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_gets_a_pool_of_its_own(server, backend):
    t = httpswap.HTTPTransport(backend)
    with httpx.Client(transport=t) as c:
        parent = c.get(f"{server}/echo").json()["connection"]
        pid = os.fork()
        if pid == 0:
            # the child: its own runtime and connections, never the parent's
            code = 1
            try:
                r = c.get(f"{server}/echo")
                code = 0 if r.status_code == 200 and r.json()["connection"] != parent else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # and the parent's pool still works
        assert c.get(f"{server}/echo").status_code == 200


def test_the_openai_sdk_over_default_async_client(server, backend):
    import openai

    async def main():
        http_client = httpswap.DefaultAsyncClient(backend=backend)
        assert http_client._transport.backend == backend
        client = openai.AsyncOpenAI(api_key="sk-test", base_url=f"{server}/v1", http_client=http_client)
        async with client:
            done = await client.chat.completions.create(
                model="gpt-test", messages=[{"role": "user", "content": "hello"}]
            )
            assert done.choices[0].message.content == "echo: hello"
            bad = openai.AsyncOpenAI(api_key="sk-wrong", base_url=f"{server}/v1", http_client=http_client, max_retries=0)
            with pytest.raises(openai.AuthenticationError):
                await bad.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])

    run(main())


def test_the_openai_sdk_streams_retries_and_times_out(server, backend):
    import openai

    async def main():
        client = openai.AsyncOpenAI(
            api_key="sk-test", base_url=f"{server}/v1",
            http_client=httpswap.DefaultAsyncClient(backend=backend),
        )
        async with client:
            # streaming: the words arrive as events
            stream = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "count"}], stream=True
            )
            words = [c.choices[0].delta.content async for c in stream if c.choices[0].delta.content]
            assert words == ["one", " two", " three"]
            # a 429 first: the SDK retries it and gets the answer
            done = await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "again"}],
                extra_headers={"x-test-limit": "1"},
            )
            assert done.choices[0].message.content == "echo: again"
            # a read timeout: the SDK's own timeout error
            with pytest.raises(openai.APITimeoutError):
                await client.with_options(timeout=0.3, max_retries=0).chat.completions.create(
                    model="m", messages=[{"role": "user", "content": "x"}],
                    extra_headers={"x-test-slow": "1"},
                )

    run(main())


def test_a_cancelled_request_frees_its_connection_slot(server, backend):
    async def main():
        one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        t = httpswap.AsyncHTTPTransport(backend, limits=one)
        async with httpx.AsyncClient(transport=t, timeout=httpx.Timeout(5.0, pool=0.5)) as c:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(c.get(f"{server}/slow"), 0.2)
            if t.capabilities["frees_abandoned_at_once"]:
                # the only slot is free again: no PoolTimeout
                assert (await c.get(f"{server}/echo")).status_code == 200
            else:
                # curl keeps the abandoned transfer until the server speaks
                # (1.5 s here): the next request waits for the slot
                with pytest.raises(httpx.PoolTimeout):
                    await c.get(f"{server}/echo")

    run(main())


def test_request_bodies_stream(server, backend):
    async def parts(n: int, fail: bool = False):
        for i in range(n):
            yield f"part{i};".encode()
            await asyncio.sleep(0.02)
        if fail:
            raise OSError("the file went away")

    async def main():
        async with httpx.AsyncClient(transport=httpswap.AsyncHTTPTransport(backend)) as c:
            # chunked (no length known)
            r = await c.post(f"{server}/echo", content=parts(3))
            assert r.json()["body"] == "part0;part1;part2;"
            assert "content-length" not in r.json()["headers"]
            # with a length given, sent as Content-Length
            r = await c.post(f"{server}/echo", content=parts(2), headers={"content-length": "12"})
            assert r.json()["body"] == "part0;part1;"
            assert r.json()["headers"]["content-length"] == "12"
            # an iterator that fails: the request fails with its error, and
            # the server never gets a body that looks complete
            with pytest.raises(OSError, match="went away"):
                await c.post(f"{server}/echo", content=parts(2, fail=True))
            # the connection pool still works
            assert (await c.get(f"{server}/echo")).status_code == 200

    run(main())


def test_sync_request_bodies_stream(server, backend, refused_url):
    def parts(n: int, fail: bool = False):
        for i in range(n):
            yield f"part{i};".encode()
            time.sleep(0.02)
        if fail:
            raise OSError("the file went away")

    with httpx.Client(transport=httpswap.HTTPTransport(backend)) as c:
        r = c.post(f"{server}/echo", content=parts(3))
        assert r.json()["body"] == "part0;part1;part2;"
        assert "content-length" not in r.json()["headers"]
        r = c.post(f"{server}/echo", content=parts(2), headers={"content-length": "12"})
        assert r.json()["body"] == "part0;part1;"
        assert r.json()["headers"]["content-length"] == "12"
        with pytest.raises(OSError, match="went away"):
            c.post(f"{server}/echo", content=parts(2, fail=True))
        assert c.get(f"{server}/echo").status_code == 200
        # no server: the request's own error, without reading the body
        # further than the few chunks handed ahead
        body = _Counted()
        with pytest.raises(httpx.ConnectError):
            c.post(refused_url, content=body)
        assert body.taken <= 8


class _Counted:
    """64 KiB chunks, up to 64 MiB, counting how many were read."""

    def __init__(self) -> None:
        self.taken = 0

    def __iter__(self):
        for _ in range(1024):
            self.taken += 1
            yield b"x" * 65536

    async def chunks(self):
        for chunk in self:
            yield chunk


def test_an_early_answer_stops_the_upload(server, backend):
    # the server refuses the upload without reading it: the answer is
    # returned (no hang on a body no one reads), and the rest of the body
    # is not read
    for big in (False, True):
        body = _Counted()
        with httpx.Client(transport=httpswap.HTTPTransport(backend), timeout=10) as c:
            r = c.post(f"{server}/early" + ("?big" if big else ""), content=body)
            assert r.status_code == 413
            assert r.content == b"too large" * (30_000 if big else 1)
        assert body.taken < 1024

    async def main():
        body = _Counted()
        t = httpswap.AsyncHTTPTransport(backend)
        async with httpx.AsyncClient(transport=t, timeout=10) as c:
            r = await c.post(f"{server}/early", content=body.chunks())
            assert r.status_code == 413 and r.content == b"too large"
        assert body.taken < 1024

    run(main())


def test_a_failed_body_is_never_sent_as_complete(server, backend):
    # the iterator fails while the connection's buffers and the chunks
    # handed ahead are full: the failure must still reach the connection,
    # never an early end that the server takes for the whole body
    from conftest import Handler

    big = b"x" * (4 << 20)

    def parts(fail: bool):
        for _ in range(8):
            yield big
        if fail:
            raise OSError("the file went away")

    async def aparts(fail: bool):
        for chunk in parts(fail):
            yield chunk

    with httpx.Client(transport=httpswap.HTTPTransport(backend), timeout=10) as c:
        with pytest.raises(OSError, match="went away"):
            c.post(f"{server}/record?sync-failed", content=parts(True))
        assert c.post(f"{server}/record?sync-whole", content=parts(False)).status_code == 200

    async def main():
        t = httpswap.AsyncHTTPTransport(backend)
        async with httpx.AsyncClient(transport=t, timeout=10) as c:
            with pytest.raises(OSError, match="went away"):
                await c.post(f"{server}/record?async-failed", content=aparts(True))
            r = await c.post(f"{server}/record?async-whole", content=aparts(False))
            assert r.status_code == 200

    run(main())
    time.sleep(0.6)  # the failed bodies' handlers are done reading
    mine = [r for r in Handler.recorded if "sync-" in r[0]]
    Handler.recorded.clear()
    assert sorted(mine) == [
        ("/record?async-whole", 8 * len(big)),
        ("/record?sync-whole", 8 * len(big)),
    ]


_EXIT_WITH_REQUESTS_IN_FLIGHT = """
import asyncio, sys, threading, httpx, httpswap
url, backend = sys.argv[1], sys.argv[2]

def sync():
    with httpx.Client(transport=httpswap.HTTPTransport(backend)) as c:
        c.get(url + "/slow")

threading.Thread(target=sync, daemon=True).start()

async def main():
    c = httpx.AsyncClient(transport=httpswap.AsyncHTTPTransport(backend))
    asyncio.ensure_future(c.get(url + "/slow"))
    # a response half read, and never closed
    r = await c.send(c.build_request("GET", url + "/chunks"), stream=True)
    await r.aiter_raw().__anext__()
    await asyncio.sleep(0.3)

asyncio.run(main())
print("exiting", flush=True)
"""


def test_the_interpreter_exits_with_requests_in_flight(server, backend):
    # requests waiting (a daemon thread's, an asyncio task's) and a body
    # half read when the interpreter ends: it exits cleanly, without
    # waiting for them, a crash or a panic
    import subprocess
    import sys

    p = subprocess.run(
        [sys.executable, "-c", _EXIT_WITH_REQUESTS_IN_FLIGHT, server, backend],
        capture_output=True, text=True, timeout=60,
    )
    assert (p.returncode, p.stdout) == (0, "exiting\n"), p.stderr
    assert "panick" not in p.stderr and "Fatal" not in p.stderr, p.stderr
