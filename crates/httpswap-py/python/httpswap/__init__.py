"""httpswap's Rust HTTP transports under httpx.

``AsyncHTTPTransport`` and ``HTTPTransport`` are httpx transports whose
requests go through httpswap's pool (the hyper backend by default, or
reqwest or libcurl), with httpx's own API, settings and exceptions::

    import httpx, httpswap
    async with httpx.AsyncClient(transport=httpswap.AsyncHTTPTransport()) as client:
        r = await client.get("https://example.com/")

``DefaultAsyncClient`` is an ``httpx.AsyncClient`` with the OpenAI Python
SDK's production defaults over that transport, made the way
``openai.DefaultAioHttpClient`` is::

    client = openai.AsyncOpenAI(http_client=httpswap.DefaultAsyncClient())
"""

from __future__ import annotations

import asyncio
import os
import ssl
import typing
import weakref

import httpx

from . import _httpswap

__all__ = [
    "AsyncHTTPTransport",
    "DefaultAsyncClient",
    "HTTPTransport",
    "BACKENDS",
    "__version__",
]

__version__ = _httpswap.__version__

#: The backends a transport can be built on.
BACKENDS = ("hyper", "reqwest", "isahc")

# httpswap's error kinds as httpx's exception classes.
_EXCEPTIONS: dict[str, type[httpx.TransportError]] = {
    "ConnectTimeout": httpx.ConnectTimeout,
    "ReadTimeout": httpx.ReadTimeout,
    "WriteTimeout": httpx.WriteTimeout,
    "PoolTimeout": httpx.PoolTimeout,
    # a total deadline: httpx has none, so the base class of its timeouts
    "Timeout": httpx.TimeoutException,
    "Connect": httpx.ConnectError,
    "Read": httpx.ReadError,
    "Write": httpx.WriteError,
    "RemoteProtocol": httpx.RemoteProtocolError,
    "LocalProtocol": httpx.LocalProtocolError,
    "Proxy": httpx.ProxyError,
    "ProxyConnect": httpx.ProxyError,
    "UnsupportedProtocol": httpx.UnsupportedProtocol,
    "InvalidUrl": httpx.UnsupportedProtocol,
    "Decoding": httpx.DecodingError,
    "BodyNotReplayable": httpx.LocalProtocolError,
}


def _raise(error: _httpswap.Error, request: httpx.Request) -> typing.NoReturn:
    kind, message = error.args
    if kind == "Closed":
        raise RuntimeError("Cannot send a request, as the transport has been closed.") from None
    if kind == "Builder":
        raise ValueError(message) from None
    cls = _EXCEPTIONS.get(kind, httpx.TransportError)
    if issubclass(cls, httpx.RequestError):
        raise cls(message, request=request) from None
    raise cls(message) from None


def _timeouts(request: httpx.Request) -> tuple:
    t = request.extensions.get("timeout", {})
    return (t.get("connect"), t.get("read"), t.get("write"), t.get("pool"))


def _settings(
    backend: str,
    verify: typing.Any,
    cert: typing.Any,
    trust_env: bool,
    http1: bool,
    http2: bool,
    limits: httpx.Limits,
    proxy: typing.Any,
    uds: str | None,
    local_address: str | None,
    retries: int,
    timeout: typing.Any,
) -> _httpswap.Transport:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if cert is not None:
        raise ValueError("client certificates (cert=) are not supported by httpswap yet")
    if not http1:
        raise ValueError("http1=False is not supported: httpswap always speaks HTTP/1.1")
    if retries:
        raise ValueError(
            "retries= is not supported: httpswap resends an idempotent request once, "
            "on a fresh connection, when its reused connection had died; use httpx's "
            "own retry layer for more"
        )
    ca_pem = None
    if isinstance(verify, ssl.SSLContext):
        raise ValueError(
            "verify=ssl.SSLContext is not supported: httpswap verifies with rustls; "
            "pass True, False, or the path of a PEM file of CA certificates"
        )
    if isinstance(verify, (str, os.PathLike)):
        with open(verify, "rb") as f:
            ca_pem = f.read()
        verify = True
    elif trust_env and verify is True and os.environ.get("SSL_CERT_FILE"):
        with open(os.environ["SSL_CERT_FILE"], "rb") as f:
            ca_pem = f.read()
    if isinstance(proxy, httpx.Proxy):
        proxy = str(proxy.url)
    elif proxy is not None:
        proxy = str(proxy)
    t = httpx.Timeout(timeout) if timeout is not None else httpx.Timeout(None)
    return _httpswap.Transport(
        backend,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        timeouts=(t.connect, t.read, t.write, t.pool),
        verify=bool(verify),
        ca_pem=ca_pem,
        http2=http2,
        proxy=proxy,
        trust_env=trust_env,
        uds=uds,
        local_address=local_address,
    )


# Each event loop's queue of finished native work (see `Completions` in
# src/lib.rs): the loop watches its descriptor and settles the futures.
_queues: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# The last loop asked about and its queue (a loop runs many requests in a
# row: the weak dictionary is looked up only when the loop changes).
_last: tuple = (lambda: None, None)


def _completions_of(loop: asyncio.AbstractEventLoop) -> _httpswap.Completions:
    global _last
    if _last[0]() is loop:
        return _last[1]
    queue = _queues.get(loop)
    if queue is None:
        queue = _httpswap.Completions()
        loop.add_reader(queue.fileno(), queue.drain)
        _queues[loop] = queue
    _last = (weakref.ref(loop), queue)
    return queue


async def _await(start: typing.Callable[..., _httpswap.Abort]) -> typing.Any:
    """Starts native work that settles an asyncio future, and awaits it;
    a cancelled await cancels the work."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()
    abort = start(_completions_of(loop), future)
    try:
        return await future
    except asyncio.CancelledError:
        abort.abort()
        raise


async def _pump(stream: typing.AsyncIterable[bytes], upload: _httpswap.Upload) -> None:
    """Hands a request body's chunks over until it ends (or the request no
    longer reads it); a failure of the iterator fails the request."""
    try:
        async for chunk in stream:
            if chunk and not await _await(
                lambda completions, future, chunk=chunk: upload.send(completions, future, chunk)
            ):
                return
    except BaseException as e:
        upload.fail(repr(e))
        raise
    upload.finish()


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(self, stream: _httpswap.ResponseStream, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        while True:
            try:
                chunk = await _await(self._stream.next)
            except _httpswap.Error as e:
                _raise(e, self._request)
            if chunk is None:
                return
            yield chunk

    async def aclose(self) -> None:
        self._stream.close()


class _Content(httpx.AsyncByteStream, httpx.SyncByteStream):
    """A body read with its head (small, its length known)."""

    def __init__(self, content: bytes) -> None:
        self._content = content

    async def __aiter__(self) -> typing.AsyncIterator[bytes]:
        if self._content:
            yield self._content

    def __iter__(self) -> typing.Iterator[bytes]:
        if self._content:
            yield self._content


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, stream: _httpswap.ResponseStream, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request
        self.upload: _httpswap.Upload | None = None

    def __iter__(self) -> typing.Iterator[bytes]:
        while True:
            try:
                chunk = self._stream.next_blocking()
            except _httpswap.Error as e:
                _raise(e, self._request)
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        self._stream.close()


def _response(head: tuple, request: httpx.Request, streaming: type) -> httpx.Response:
    status, headers, version, native, content = head
    stream = _Content(content) if content is not None else streaming(native, request)
    return httpx.Response(
        status,
        headers=headers,
        stream=stream,
        extensions={"http_version": version.encode("ascii")},
        request=request,
    )


class _Configured:
    """The settings both transports take (see ``AsyncHTTPTransport``)."""

    def __init__(
        self,
        backend: str = "hyper",
        *,
        verify: typing.Any = True,
        cert: typing.Any = None,
        trust_env: bool = True,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
        proxy: typing.Any = None,
        uds: str | None = None,
        local_address: str | None = None,
        retries: int = 0,
        timeout: typing.Any = None,
    ) -> None:
        self._native = _settings(
            backend, verify, cert, trust_env, http1, http2, limits, proxy, uds,
            local_address, retries, timeout,
        )

    @property
    def backend(self) -> str:
        return self._native.backend

    @property
    def capabilities(self) -> dict[str, bool]:
        """Where this backend's promises differ from the others' (see
        CAPABILITIES.md): ``frees_abandoned_at_once`` (a cancelled request
        gives its connection slot back at once; curl's only when the server
        next speaks), ``connect_timeout_per_request``, ``socket_limit``,
        ``never_resends_non_idempotent``, ``poisons_connections``."""
        return dict(self._native.capabilities())


class AsyncHTTPTransport(_Configured, httpx.AsyncBaseTransport):
    """An ``httpx.AsyncBaseTransport`` over an httpswap backend.

    ``backend`` is ``"hyper"`` (the default), ``"reqwest"`` or ``"isahc"``;
    the other arguments are ``httpx.AsyncHTTPTransport``'s. ``timeout`` sets
    the transport's own timeouts, used when a request carries none (httpx's
    clients always give theirs). Not supported, and refused with
    ``ValueError``: ``cert``, ``verify=ssl.SSLContext``, ``http1=False``,
    ``retries``.
    """

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.ByteStream):
            return await self._send_streaming(request)
        try:
            body = request.content  # read when the request was made
        except httpx.RequestNotRead:
            body = await request.aread()
        # `_await` written out: this is every request's path
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        try:
            abort = self._native.send(
                _completions_of(loop), future, request.method, str(request.url),
                request.headers.raw, body, _timeouts(request),
            )
            head = await future
        except asyncio.CancelledError:
            abort.abort()
            raise
        except _httpswap.Error as e:
            _raise(e, request)
        return _response(head, request, _AsyncStream)

    async def _send_streaming(self, request: httpx.Request) -> httpx.Response:
        """A request whose body streams (an async iterator): its chunks are
        handed over while the request runs, a few ahead at most."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        length = request.headers.get("content-length")
        abort, upload = self._native.send_streaming(
            _completions_of(loop), future, request.method, str(request.url),
            request.headers.raw, int(length) if length is not None else None,
            _timeouts(request),
        )
        pump = loop.create_task(_pump(request.stream, upload))
        # its failure is raised below, or is moot once an answer came
        pump.add_done_callback(lambda t: t.cancelled() or t.exception())
        try:
            head = await future
        except asyncio.CancelledError:
            abort.abort()
            pump.cancel()
            raise
        except _httpswap.Error as e:
            pump.cancel()
            if pump.done() and not pump.cancelled() and pump.exception() is not None:
                raise pump.exception() from None
            _raise(e, request)
        return _response(head, request, _AsyncStream)

    async def aclose(self) -> None:
        self._native.close()


class HTTPTransport(_Configured, httpx.BaseTransport):
    """An ``httpx.BaseTransport`` over an httpswap backend: the arguments of
    ``AsyncHTTPTransport``. A request blocks its thread (not the others:
    the GIL is released while it waits). A body from an iterator streams:
    its chunks are read as the connection takes them, and no further once
    the server has answered."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.ByteStream):
            return self._send_streaming(request)
        body = request.read()
        try:
            head = self._native.send_blocking(
                request.method, str(request.url), request.headers.raw, body, _timeouts(request)
            )
        except _httpswap.Error as e:
            _raise(e, request)
        return _response(head, request, _SyncStream)

    def _send_streaming(self, request: httpx.Request) -> httpx.Response:
        """A request whose body streams (an iterator): the request starts,
        then this thread hands its chunks over, a few ahead of the
        connection at most, until the body ends or the server has answered
        (then the rest is not read, and the body is not sent as complete)."""
        length = request.headers.get("content-length")
        pending, upload = self._native.send_streaming_blocking(
            request.method, str(request.url), request.headers.raw,
            int(length) if length is not None else None, _timeouts(request),
        )
        try:
            for chunk in request.stream:
                if chunk and not upload.send_blocking(chunk):
                    break
            else:
                upload.finish()
        except BaseException as e:
            upload.fail(repr(e))
            raise
        try:
            head = pending.wait()
        except _httpswap.Error as e:
            _raise(e, request)
        response = _response(head, request, _SyncStream)
        if isinstance(response.stream, _SyncStream):
            # a body left unfinished (the server answered early) fails when
            # the upload goes: not before the response is read
            response.stream.upload = upload
        return response

    def close(self) -> None:
        self._native.close()


#: The OpenAI Python SDK's defaults (``openai._constants``): 600 s, 5 s to
#: connect; 1000 connections, 100 kept alive.
DEFAULT_TIMEOUT = httpx.Timeout(timeout=600.0, connect=5.0)
DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)


class DefaultAsyncClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` with the OpenAI SDK's production defaults
    (timeout 600 s, connect 5 s; 1000 connections, 100 kept alive;
    redirects followed) over ``AsyncHTTPTransport``, as
    ``openai.DefaultAioHttpClient`` is over aiohttp. Keyword arguments are
    ``httpx.AsyncClient``'s, plus ``backend``; a ``transport`` given is used
    as it is."""

    def __init__(self, *, backend: str = "hyper", **kwargs: typing.Any) -> None:
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        kwargs.setdefault("limits", DEFAULT_LIMITS)
        kwargs.setdefault("follow_redirects", True)
        if "transport" not in kwargs:
            kwargs["transport"] = AsyncHTTPTransport(
                backend,
                limits=kwargs["limits"],
                verify=kwargs.get("verify", True),
                http2=kwargs.get("http2", False),
                trust_env=kwargs.get("trust_env", True),
            )
        super().__init__(**kwargs)
