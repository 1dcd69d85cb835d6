"""A local HTTP/1.1 server for the tests, on 127.0.0.1, in a thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import httpswap


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # every other request carrying x-test-limit is refused with a 429
    _limit_count = 0
    _limit_lock = threading.Lock()
    # (path, length) of each body `/record` received complete
    recorded: list = []

    @classmethod
    def limited(cls) -> bool:
        with cls._limit_lock:
            cls._limit_count += 1
            return cls._limit_count % 2 == 1

    def log_message(self, *args):  # quiet
        pass

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_PUT(self):
        self.route()

    def route(self):
        if self.path.startswith("/early"):
            # answers before reading the body (as a server refusing an
            # upload does), then reads what comes until the client stops,
            # so that its answer is not lost to a reset; `?big`: an answer
            # too large to be read with its head (it streams)
            answer = b"too large" * (30_000 if self.path.endswith("?big") else 1)
            self._send(413, answer, {"connection": "close"})
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(5)
            try:
                while self.connection.recv(65536):
                    pass
            except OSError:
                pass
            return
        if self.path.startswith("/record"):
            # reads the body late (the client's buffers fill meanwhile) and
            # records the bodies that arrived complete
            time.sleep(0.5)
            body = self._body()
            with Handler._limit_lock:
                Handler.recorded.append((self.path, len(body)))
            self._send(200, b"recorded")
            return
        body = self._body()
        path = self.path.split("?")[0]
        if path == "/echo":
            out = {
                "method": self.command,
                "path": self.path,
                "body": body.decode("latin-1"),
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "connection": id(self.connection),
            }
            self._send(200, json.dumps(out).encode(), {"content-type": "application/json"})
        elif path == "/slow":
            time.sleep(1.5)
            self._send(200, b"late")
        elif path == "/chunks":
            self.send_response(200)
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for i in range(3):
                data = f"chunk{i};".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                time.sleep(0.2)
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/truncated":
            self.send_response(200)
            self.send_header("content-length", "10")
            self.end_headers()
            self.wfile.write(b"abc")
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif path == "/v1/chat/completions" and json.loads(body).get("stream"):
            # server-sent events, one chunk per word, then [DONE]
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            for word in ["one", " two", " three"]:
                event = {
                    "id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m",
                    "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
                }
                data = f"data: {json.dumps(event)}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
                time.sleep(0.05)
            data = b"data: [DONE]\n\n"
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
        elif path == "/v1/chat/completions" and self.headers.get("x-test-limit") and Handler.limited():
            self._send(429, b'{"error": {"message": "slow down"}}',
                       {"content-type": "application/json", "retry-after-ms": "10"})
        elif path == "/v1/chat/completions" and self.headers.get("x-test-slow"):
            time.sleep(1.5)
            self._send(200, b"{}", {"content-type": "application/json"})
        elif path == "/v1/chat/completions":
            asked = json.loads(body)
            answer = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": asked["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "echo: " + asked["messages"][-1]["content"]},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
            auth = self.headers.get("authorization")
            if auth != "Bearer sk-test":
                self._send(401, b'{"error": {"message": "bad key"}}', {"content-type": "application/json"})
            else:
                self._send(200, json.dumps(answer).encode(), {"content-type": "application/json"})
        elif path == "/redirect":
            self._send(302, b"", {"location": "/echo"})
        elif path == "/gzip":
            import gzip

            self._send(200, gzip.compress(b"unzipped"), {"content-encoding": "gzip"})
        else:
            self._send(404, b"no such route")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # clients that hang up early (cancelled, timed out) are what some
        # tests do: a broken pipe here is expected, not news
        pass


def serving(handler: type):
    """A `Server` of `handler` on 127.0.0.1 in a thread: yields its URL,
    then stops it (the body of a fixture)."""
    srv = Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="session")
def server():
    yield from serving(Handler)


@pytest.fixture(params=httpswap.BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def refused_url():
    """A URL on 127.0.0.1 that refuses connections: its port is held by a
    socket that never listens, for the whole test, so no server started
    meanwhile (and no connection's own end) is given it (a port closed at
    once is free for anyone; httpswap_test::RefusedPort does the same)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    yield f"http://127.0.0.1:{port}/"
    s.close()
