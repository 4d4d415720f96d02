"""End to end: a real uvicorn server on a loopback port over a SQLite file, real HTTP."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from allroads.api import create_app
from allroads.domain.types import Role
from allroads.resolution.hub import Hub
from allroads.settings import Settings
from allroads.store import Store


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The base URL of a running server with its own store, and an ingest key."""
    url = f"sqlite:///{tmp_path / 'allroads.db'}"
    setup = Store(url)
    setup.migrate()
    key, _ = Hub(setup).create_api_key("acme", Role.INGEST)
    setup.close()

    port = free_port()
    # The app builds its own Store from the settings, as `allroads serve` does.
    app = create_app(Settings(database_url=url, max_body_bytes=10_000,
                              import_dir=str(tmp_path / "imports")))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert thread.is_alive(), "the server did not start"
        assert time.monotonic() < deadline, "the server took too long to start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", key
    finally:
        srv.should_exit = True
        thread.join(timeout=20)


def test_identify_then_resolve_over_http(server: tuple[str, str]) -> None:
    base, key = server
    auth = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=auth, timeout=20) as http:
        assert http.get("/healthz").json() == {"status": "ok", "database": "sqlite"}
        created = http.post("/api/v1/identify", json={
            "type": "person", "source": "widget", "source_id": "v-1",
            "identifiers": {"email": "Jane@Acme.com"}, "attributes": {"name": "Jane Doe"}},
            headers={"Idempotency-Key": "e2e-1"})
        assert created.status_code == 200, created.text
        person = created.json()
        assert person["action"] == "created"
        replay = http.post("/api/v1/identify", json={
            "type": "person", "source": "widget", "source_id": "v-1",
            "identifiers": {"email": "Jane@Acme.com"}, "attributes": {"name": "Jane Doe"}},
            headers={"Idempotency-Key": "e2e-1"})
        assert replay.headers["Idempotency-Replayed"] == "true"
        assert replay.json() == person

        found = http.get("/api/v1/resolve", params={"type": "person",
                                                    "email": "jane@acme.com"})
        assert found.status_code == 200, found.text
        assert found.json()["id"] == person["id"]
        assert found.json()["display_name"] == "Jane Doe"

        missing = http.get("/api/v1/resolve", params={"type": "person",
                                                      "email": "bob@acme.com"})
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"
        denied = http.post("/api/v1/people", json={"first_name": "X"})
        assert denied.status_code == 403


def test_a_streamed_body_over_the_limit_is_cut_off(server: tuple[str, str]) -> None:
    base, key = server

    def chunks() -> Iterator[bytes]:
        yield b'{"type": "person", "source": "crm", "attributes": {"note": "'
        for _ in range(200):
            yield b"x" * 100
        yield b'"}}'

    with httpx.Client(base_url=base, timeout=20) as http:
        res = http.post("/api/v1/identify", content=chunks(), headers={
            "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert res.status_code == 413
    assert res.json()["code"] == "body_too_large"
