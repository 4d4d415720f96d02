"""The identify fast path (api/fast.py) and the one-write HTTP protocol (api/serving.py)
over real HTTP: a uvicorn server on a loopback port, raw sockets, on both databases.

The same requests go, in the same order, to two servers over one store (one tenant each):
the app as `allroads serve` runs it (the fast layer in front, each response written to the
socket at once) and the app with the fast layer and the lean handler off under uvicorn's own
httptools protocol. Every answer must be the same bytes, but for the Date header and the
public ids (random; compared by the order they first appear in)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn

from allroads.api import create_app
from allroads.api.fast import FastIdentify
from allroads.api.routes.identify import LEAN_SWITCH, WRITER
from allroads.api.serving import GatheredWrites, uvicorn_options
from allroads.domain.types import Role
from allroads.resolution.hub import Hub
from allroads.settings import Settings

PUBLIC_ID = re.compile(rb"\b(per|acc|mrg|rev|rej)_[0-9A-Za-z]+")
DATE = re.compile(rb"\r\ndate: [^\r]*", re.IGNORECASE)
LIMIT = 4_000

JANE = {"type": "person", "source": "crm", "source_id": "1",
        "identifiers": {"email": "Jane@Acme.com", "phone": "(415) 555-2671"},
        "attributes": {"name": "Jane Doe"}}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """A uvicorn server in a thread, serving `app` with `options`."""

    def __init__(self, app: Any, options: dict[str, Any]) -> None:
        self.app = app
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on", **options)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert self.thread.is_alive(), "the server did not start"
            assert time.monotonic() < deadline, "the server took too long to start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture
def servers(hub: Hub, tmp_path: Path) -> Iterator[tuple[tuple[Server, str], tuple[Server, str]]]:
    """(fast server, its key), (plain server, its key): one store, a tenant each."""
    settings = Settings(max_body_bytes=LIMIT, import_dir=str(tmp_path / "imports"))
    keys = []
    for tenant in ("fast", "plain"):
        hub.ensure_tenant(tenant, default_region="US")
        keys.append(hub.create_api_key(tenant, Role.INGEST)[0])
    fast_app = create_app(settings, hub=hub)
    plain_app = create_app(settings, hub=hub)
    setattr(plain_app.state, LEAN_SWITCH, False)
    fast = Server(fast_app, uvicorn_options())
    plain = Server(plain_app, {"http": "httptools", "loop": "asyncio"})
    try:
        yield (fast, keys[0]), (plain, keys[1])
    finally:
        fast.stop()
        plain.stop()


def head(key: str, length: int | None, extra: bytes = b"",
         content_type: bytes = b"application/json", path: bytes = b"/api/v1/identify"
         ) -> bytes:
    out = (b"POST " + path + b" HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer "
           + key.encode() + b"\r\n")
    if content_type:
        out += b"Content-Type: " + content_type + b"\r\n"
    if length is not None:
        out += b"Content-Length: " + str(length).encode() + b"\r\n"
    return out + extra + b"\r\n"


def chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def requests(key: str) -> Iterator[tuple[str, bytes]]:
    """(what, the bytes sent) in order, all on one keep-alive connection but the last."""
    def post(doc: Any, extra: bytes = b"", **kw: Any) -> bytes:
        body = doc if isinstance(doc, bytes) else orjson.dumps(doc)
        return head(key, len(body), extra, **kw) + body

    yield "new person", post(JANE)
    yield "the same again (unchanged)", post(JANE)
    yield "an attribute changed", post({**JANE, "attributes": {"name": "Jane D."}})
    yield "an invalid email (the engine's 422)", post(
        {"type": "person", "source": "crm", "identifiers": {"email": "jane-at-acme"}})
    yield "an unknown field (validation)", post({**JANE, "colour": "red"})
    yield "a digit run of 25 (json, not orjson)", post(
        b'{"type": "person", "source": "crm", "source_id": "2", "identifiers": {"email": '
        b'"n@acme.com"}, "attributes": {"n": 1234567890123456789012345}}')
    yield "NaN in an attribute (json reads it)", post(
        b'{"type": "person", "source": "crm", "source_id": "3", "identifiers": {"email": '
        b'"nan@acme.com"}, "attributes": {"score": NaN}}')
    yield "chunked body", head(key, None, b"Transfer-Encoding: chunked\r\n") + chunked(
        [orjson.dumps(JANE)[:20], orjson.dumps(JANE)[20:]])
    yield "a body of exactly the limit", post(
        {**JANE, "attributes": {"note": "x" * (LIMIT - len(orjson.dumps(
            {**JANE, "attributes": {"note": ""}})))}})
    yield "an idempotency key", post(JANE, b"Idempotency-Key: k-1\r\n")
    yield "text/plain", post(JANE, content_type=b"text/plain")
    yield "upper-case media type", post(JANE, content_type=b"Application/JSON")
    yield "a trailing slash", post(JANE, path=b"/api/v1/identify/")
    yield "a query string", post(JANE, path=b"/api/v1/identify?x=1")
    yield "GET", b"GET /api/v1/identify HTTP/1.1\r\nHost: test\r\n\r\n"
    yield "HEAD /healthz", b"HEAD /healthz HTTP/1.1\r\nHost: test\r\n\r\n"
    yield "two requests in one write (pipelined)", post(JANE) + post(
        {**JANE, "attributes": {"name": "Jane Doe"}})
    yield "connection: close", post(JANE, b"Connection: close\r\n")


def read_response(sock: socket.socket, buf: bytearray) -> bytes:
    """One HTTP/1.1 response (Content-Length framed) from `sock`."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        assert data, "connection closed before a response"
        buf += data
    end = buf.index(b"\r\n\r\n") + 4
    found = re.search(rb"\r\ncontent-length: (\d+)", bytes(buf[:end]), re.IGNORECASE)
    length = int(found.group(1)) if found else 0
    is_head = False
    while len(buf) < end + length and not is_head:
        data = sock.recv(65536)
        assert data, "connection closed within a response"
        buf += data
    out = bytes(buf[:end + length])
    del buf[:end + length]
    return out


def exchange(port: int, key: str) -> list[tuple[str, bytes]]:
    """Every request's answer, on one keep-alive connection as long as the server keeps it
    (it closes it after a 500, as uvicorn does after an error raised by the app)."""
    out = []
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    buf = bytearray()
    try:
        for what, data in requests(key):
            sock.sendall(data)
            count = 2 if "pipelined" in what else 1
            for _ in range(count):
                res = read_response(sock, buf) if not what.startswith("HEAD") else \
                    _read_head(sock, buf)
                out.append((what, res))
            if res.startswith(b"HTTP/1.1 5"):
                assert sock.recv(10) == b"", "the server closes the connection after a 500"
                sock.close()
                sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        assert sock.recv(10) == b"", "connection: close must close the connection"
    finally:
        sock.close()
    return out


def _read_head(sock: socket.socket, buf: bytearray) -> bytes:
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        assert data
        buf += data
    end = buf.index(b"\r\n\r\n") + 4
    out = bytes(buf[:end])
    del buf[:end]
    return out


def comparable(raw: bytes, ids: dict[bytes, bytes]) -> bytes:
    def name(match: re.Match[bytes]) -> bytes:
        return ids.setdefault(match.group(0), b"%s_#%d" % (match.group(1), len(ids)))

    return PUBLIC_ID.sub(name, DATE.sub(b"", raw))


def test_fast_server_answers_byte_for_byte_as_the_plain_one(
        servers: tuple[tuple[Server, str], tuple[Server, str]]) -> None:
    (fast, fast_key), (plain, plain_key) = servers
    # While the app runs on SQLite, identify's writes go to its one writer thread.
    sqlite = fast.app.state.hub.store.dialect.name == "sqlite"
    assert (getattr(fast.app.state, WRITER) is not None) == sqlite
    before = FastIdentify.served
    got = exchange(fast.port, fast_key)
    served = FastIdentify.served - before
    want = exchange(plain.port, plain_key)
    assert FastIdentify.served - before == served  # the plain app never serves fast
    fast_ids: dict[bytes, bytes] = {}
    plain_ids: dict[bytes, bytes] = {}
    assert len(got) == len(want)
    for (what, g), (_, w) in zip(got, want, strict=True):
        assert comparable(g, fast_ids) == comparable(w, plain_ids), what
    statuses = {what: int(res[9:12]) for what, res in got}
    assert statuses["the same again (unchanged)"] == 200
    assert statuses["an invalid email (the engine's 422)"] == 422
    assert statuses["a body of exactly the limit"] == 200
    # The common calls after the first (which authenticates the key) went the fast way:
    # the unchanged one, the changed one, the engine's 422, the long digit run, NaN, the
    # chunked body, the body at the limit, upper-case JSON and both pipelined requests.
    assert served >= 10


def test_bodies_over_the_limit_are_refused_the_same(
        servers: tuple[tuple[Server, str], tuple[Server, str]]) -> None:
    (fast, fast_key), (plain, plain_key) = servers
    big = orjson.dumps({**JANE, "attributes": {"note": "x" * LIMIT}})
    answers = []
    for server, key in ((fast, fast_key), (plain, plain_key)):
        out = []
        for data in (head(key, len(orjson.dumps(JANE))) + orjson.dumps(JANE),  # known key
                     head(key, len(big)) + big,
                     head(key, None, b"Transfer-Encoding: chunked\r\n")
                     + chunked([big[:LIMIT - 10], big[LIMIT - 10:]])):
            with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
                sock.sendall(data)
                out.append(DATE.sub(b"", PUBLIC_ID.sub(b"id", read_response(
                    sock, bytearray()))))
        answers.append(out)
    assert answers[0] == answers[1]
    assert [int(a[9:12]) for a in answers[0]] == [200, 413, 413]
    assert b"connection: close" in answers[0][1].lower()


def test_gathered_writes_go_out_once_and_in_order() -> None:
    import asyncio

    class Transport:
        def __init__(self) -> None:
            self.writes: list[bytes] = []
            self.closed = False

        def write(self, data: bytes) -> None:
            assert not self.closed
            self.writes.append(data)

        def is_closing(self) -> bool:
            return self.closed

        def close(self) -> None:
            self.closed = True

        def get_write_buffer_size(self) -> int:
            return 0

        def get_extra_info(self, name: str) -> str:
            return f"info:{name}"

    async def run() -> Transport:
        loop = asyncio.get_running_loop()
        raw = Transport()
        gathered = GatheredWrites(raw, loop)  # type: ignore[arg-type]
        gathered.write(b"HTTP/1.1 200 OK\r\n\r\n")
        gathered.write(b"body")
        assert raw.writes == [] and gathered.get_write_buffer_size() == 23
        await asyncio.sleep(0)
        assert raw.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
        gathered.write(b"x" * 70_000)  # past MAX_GATHERED: written at once
        assert raw.writes[-1] == b"x" * 70_000
        gathered.write(b"last")
        gathered.close()  # what was gathered goes out before the close
        assert raw.writes[-1] == b"last" and raw.closed
        await asyncio.sleep(0)
        assert gathered.get_extra_info("peername") == "info:peername"
        return raw

    raw = asyncio.run(run())
    assert len(raw.writes) == 3
