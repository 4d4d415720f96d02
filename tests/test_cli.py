"""The `allroads` command line, in-process (CliRunner) on both databases, and as a process."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer.main
from typer.testing import CliRunner, Result

import allroads
from allroads.cli.main import app
from allroads.cli.runtime import TENANT_ENV, only_tenant
from allroads.domain.types import Actor, EntityType, IdentifyRequest, Role
from allroads.resolution.hub import Hub
from allroads.store import Store

runner = CliRunner()
KEY = re.compile(r"ar_[0-9a-f]{8}_[A-Za-z0-9_\-]+")


def commands() -> list[tuple[list[str], Any]]:
    """Every command of the tree, groups included, with its path as argument list (root
    first)."""
    found: list[tuple[list[str], Any]] = []

    def walk(cmd: Any, path: list[str]) -> None:
        found.append((path, cmd))
        for name, sub in sorted(getattr(cmd, "commands", {}).items()):
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def command_paths() -> list[list[str]]:
    return [path for path, _ in commands()]


def tenant_options() -> list[tuple[list[str], Any]]:
    """Every command that takes --tenant, with that option."""
    return [(path, param) for path, cmd in commands() for param in cmd.params
            if "--tenant" in getattr(param, "opts", ())]


def invoke(env: dict[str, str | None], *args: str) -> Result:
    return runner.invoke(app, list(args), env={"ALLROADS_TENANT": None, **env})


@pytest.fixture
def env(store: Store) -> dict[str, str | None]:
    """The environment of a CLI run against the test's database (SQLite or PostgreSQL)."""
    return {"ALLROADS_DATABASE_URL": store.url}


@pytest.fixture
def jane(hub: Hub, actor: Actor) -> str:
    result = hub.identify(actor, IdentifyRequest(
        EntityType.PERSON, "crm", "0035", {"email": "Jane@Acme.com", "phone": "(415) 555-2671"},
        {"first_name": "Jane", "last_name": "Doe"}))
    assert result.id
    return result.id


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "allroads")
def test_every_command_help_has_an_example(path: list[str]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    start = next((n for n, line in enumerate(lines) if line.startswith("Example")), None)
    assert start is not None, result.output
    command = " ".join(["allroads", *path])
    examples = [line for line in lines[start + 1:]
                if line == command or line.startswith(f"{command} ")]
    assert examples, f"no example of `{command} ...` after 'Example':\n{result.output}"


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, [])
    assert "resolve" in result.output and "apikey" in result.output


def test_db_upgrade(store: Store, env: dict[str, str | None]) -> None:
    for _ in range(2):
        result = invoke(env, "db", "upgrade")
        assert result.exit_code == 0, result.output
        assert store.backend in result.stdout and store.safe_url in result.stdout


def test_db_upgrade_creates_a_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    result = invoke({"ALLROADS_DATABASE_URL": f"sqlite:///{path}"}, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert path.exists() and "sqlite" in result.stdout


def test_a_missing_database_is_a_clear_error(tmp_path: Path) -> None:
    result = invoke({"ALLROADS_DATABASE_URL": f"sqlite:///{tmp_path}/none.db"},
                    "apikey", "list", "--tenant", "acme")
    assert result.exit_code == 1
    assert "no database at" in result.stderr and "allroads db upgrade" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "none.db").exists()


def test_configuration_mistakes_are_clear_errors(tmp_path: Path) -> None:
    for url, needle in (("mysql://u@host/db", "unsupported database 'mysql'"),
                        ("postgresql://u@host/db", "postgresql+psycopg://")):
        result = invoke({"ALLROADS_DATABASE_URL": url}, "db", "upgrade")
        assert result.exit_code == 2 and needle in result.stderr, result.output
    result = invoke({"ALLROADS_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
                     "ALLROADS_PORT": "eighty", "ALLROADS_POOL_SIZE": "x"}, "db", "upgrade")
    assert result.exit_code == 2
    assert "ALLROADS_PORT='eighty' is not an integer" in result.stderr
    assert "ALLROADS_POOL_SIZE" in result.stderr
    unreachable = invoke({"ALLROADS_DATABASE_URL": "postgresql+psycopg://u:pw@127.0.0.1:1/db"},
                         "apikey", "list", "-t", "acme")
    assert unreachable.exit_code == 1
    assert unreachable.stderr.startswith("Error: cannot reach the database")
    assert "Traceback" not in unreachable.output and "pw" not in unreachable.output
    no_dir = invoke({}, "demo", "--no-serve", "--db", str(tmp_path / "missing" / "demo.db"))
    assert no_dir.exit_code == 2 and "does not exist" in no_dir.stderr


def test_apikey_create_prints_a_key_that_authenticates(hub: Hub,
                                                        env: dict[str, str | None]) -> None:
    result = invoke(env, "apikey", "create", "--tenant", "newco", "--role", "admin",
                    "--name", "ops")
    assert result.exit_code == 0, result.output
    match = KEY.search(result.stdout)
    assert match, result.stdout
    principal = hub.authenticate(match.group(0))
    assert principal is not None and principal.role is Role.ADMIN
    assert principal.tenant.slug == "newco" and principal.key.name == "ops"


def test_apikey_create_json_list_and_revoke(hub: Hub, env: dict[str, str | None]) -> None:
    made = [json.loads(invoke(env, "apikey", "create", "-t", "acme", "--role", role,
                              "--json").stdout) for role in ("ingest", "viewer")]
    assert made[0]["role"] == "ingest" and made[1]["name"] == "viewer key"
    listed = json.loads(invoke(env, "apikey", "list", "-t", "acme", "--json").stdout)
    assert [k["prefix"] for k in listed] == [m["prefix"] for m in made]
    table = invoke(env, "apikey", "list", "-t", "acme").stdout
    assert all(m["prefix"] in table for m in made) and made[0]["key"] not in table
    result = invoke(env, "apikey", "revoke", f"ar_{made[0]['prefix']}_", "-t", "acme")
    assert result.exit_code == 0, result.output
    assert hub.authenticate(made[0]["key"]) is None
    assert hub.authenticate(made[1]["key"]) is not None
    result = invoke(env, "apikey", "revoke", str(made[1]["id"]), "-t", "acme")
    assert result.exit_code == 0 and Hub(hub.store).authenticate(made[1]["key"]) is None
    missing = invoke(env, "apikey", "revoke", "9999", "-t", "acme")
    assert missing.exit_code == 1 and "no API key" in missing.stderr


def test_tenant_comes_from_the_environment_and_typos_create_nothing(
        hub: Hub, env: dict[str, str | None]) -> None:
    invoke(env, "apikey", "create", "-t", "acme", "--role", "viewer")
    result = runner.invoke(app, ["apikey", "list", "--json"],
                           env={**env, "ALLROADS_TENANT": "acme"})
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 1
    typo = invoke(env, "apikey", "list", "-t", "acmee")
    assert typo.exit_code == 1 and "no tenant 'acmee'" in typo.stderr
    with hub.store.read() as tx:
        assert tx.tenant_by_slug("acmee") is None
    only = invoke(env, "apikey", "list", "--json")  # acme is the only tenant
    assert only.exit_code == 0 and len(json.loads(only.stdout)) == 1


@pytest.mark.parametrize(("path", "option"), [pytest.param(path, option, id=" ".join(path))
                                               for path, option in tenant_options()])
def test_every_tenant_option_may_be_left_out(path: list[str], option: Any) -> None:
    assert not option.required and option.envvar == TENANT_ENV
    assert option.default is only_tenant
    shown = " ".join(runner.invoke(app, [*path, "--help"]).output.replace("│", " ").split())
    assert "[default: (the database's only tenant)]" in shown


def test_without_a_tenant_the_only_one_is_used(jane: str, env: dict[str, str | None]) -> None:
    result = invoke(env, "resolve", "email=jane@acme.com")
    assert result.exit_code == 0, result.output
    assert jane in result.stdout and "Jane Doe" in result.stdout
    miss = invoke(env, "resolve", "email=a@b.com")  # as written: no --tenant, no env
    assert miss.exit_code == 1
    assert miss.stderr.startswith("Error: no person with email 'a@b.com'"), miss.output
    report = json.loads(invoke(env, "quality", "--json").stdout)
    assert [p["id"] for p in report["people_without_account"]["items"]] == [jane]
    made = invoke(env, "apikey", "create", "--role", "viewer", "--json")
    assert made.exit_code == 0 and json.loads(made.stdout)["tenant"] == "acme", made.output


def test_with_several_tenants_one_must_be_named(jane: str, hub: Hub,
                                                 env: dict[str, str | None]) -> None:
    hub.ensure_tenant("globex")
    for args in (["resolve", "email=jane@acme.com"], ["apikey", "list"],
                 ["import", "list"], ["match", "candidates"]):
        result = invoke(env, *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("Error: no tenant given, and the database has 2: "
                                        "acme, globex"), result.output
        assert "--tenant acme" in result.stderr and f"{TENANT_ENV}=acme" in result.stderr
        assert result.stdout == "" and "Traceback" not in result.output
    named = invoke(env, "resolve", "email=jane@acme.com", "--tenant", "acme")
    assert named.exit_code == 0 and jane in named.stdout
    from_env = runner.invoke(app, ["resolve", "email=jane@acme.com"],
                             env={**env, TENANT_ENV: "globex"})
    assert from_env.exit_code == 1 and "no person with email" in from_env.stderr


def test_without_any_tenant_the_error_says_how_to_make_one(env: dict[str, str | None]
                                                             ) -> None:
    result = invoke(env, "resolve", "email=a@b.com")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no tenant given, and the database has none yet")
    assert "allroads apikey create --tenant" in result.stderr
    made = invoke(env, "apikey", "create", "--tenant", "acme", "--role", "admin")
    assert made.exit_code == 0, made.output


def test_resolve_finds_by_normalized_identifier(jane: str, env: dict[str, str | None]) -> None:
    result = invoke(env, "resolve", "email=JANE@acme.COM", "--tenant", "acme")
    assert result.exit_code == 0, result.output
    assert jane in result.stdout and "Jane Doe" in result.stdout
    data = json.loads(invoke(env, "resolve", "phone=+1 415.555.2671", "-t", "acme",
                             "--json").stdout)
    assert data["id"] == jane and data["emails"] == ["jane@acme.com"]
    by_record = json.loads(invoke(env, "resolve", "source=crm", "source_id=0035", "-t", "acme",
                                  "--json").stdout)
    assert by_record["id"] == jane
    by_ref = json.loads(invoke(env, "resolve", "source_id=crm:0035", "-t", "acme",
                               "--json").stdout)
    assert by_ref["id"] == jane


def test_resolve_misses_and_bad_input(jane: str, env: dict[str, str | None]) -> None:
    miss = invoke(env, "resolve", "email=nobody@acme.com", "-t", "acme")
    assert miss.exit_code == 1
    assert miss.stderr.startswith("Error: no person with email 'nobody@acme.com'")
    assert "Hint:" in miss.stderr and miss.stdout == ""
    account = invoke(env, "resolve", "email=jane@acme.com", "--type", "account", "-t", "acme")
    assert account.exit_code == 1 and "no account" in account.stderr
    for args in (["email"], ["email=a@b.com", "phone=+14155552671"], ["email=not-an-email"],
                 ["source=crm"], ["type=robot", "email=a@b.com"]):
        bad = invoke(env, "resolve", *args, "-t", "acme")
        assert bad.exit_code == 2, (args, bad.output)
        assert bad.stderr.startswith("Error:") and "Traceback" not in bad.output


def test_sources_and_rules(env: dict[str, str | None], actor: Actor, tmp_path: Path) -> None:
    result = invoke(env, "sources", "set", "shopify", "--priority", "65", "-t", "acme",
                    "--description", "web shop")
    assert result.exit_code == 0, result.output
    listed = json.loads(invoke(env, "sources", "list", "-t", "acme", "--json").stdout)
    assert {"name": "shopify", "priority": 65, "description": "web shop"} in listed
    assert "shopify" in invoke(env, "sources", "list", "-t", "acme").stdout
    bad = invoke(env, "sources", "set", "Not A Name", "--priority", "5", "-t", "acme")
    assert bad.exit_code == 2 and "invalid source" in bad.stderr

    shown = json.loads(invoke(env, "rules", "show", "--type", "account", "-t", "acme",
                              "--json").stdout)
    assert shown["entity_type"] == "account" and "domain" in shown["identifiers"]
    assert "info" in invoke(env, "rules", "show", "-t", "acme").stdout  # blocked mailboxes
    rules_file = tmp_path / "rules.json"
    rules_file.write_text(json.dumps({"identifiers": {"device_id": {"shared_limit": 5}}}))
    saved = invoke(env, "rules", "set", str(rules_file), "-t", "acme", "--json")
    assert saved.exit_code == 0, saved.output
    assert json.loads(saved.stdout)["identifiers"]["device_id"]["shared_limit"] == 5
    rules_file.write_text(json.dumps({"identifiers": {"email": {"priority": -1, "nope": 1}}}))
    invalid = invoke(env, "rules", "set", str(rules_file), "-t", "acme")
    assert invalid.exit_code == 2
    assert "priority" in invalid.stderr and "nope" in invalid.stderr
    piped = runner.invoke(app, ["rules", "set", "-", "-t", "acme"], input="[1]",
                          env={**env, "ALLROADS_TENANT": None})
    assert piped.exit_code == 2 and "expected a JSON object" in piped.stderr


def test_quality(jane: str, env: dict[str, str | None]) -> None:
    data = json.loads(invoke(env, "quality", "-t", "acme", "--json").stdout)
    assert data["people_without_account"]["count"] == 1
    table = invoke(env, "quality", "-t", "acme")
    assert table.exit_code == 0 and jane in table.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_env(**extra: str) -> dict[str, str]:
    """This environment, with the allroads package importable from any directory."""
    source = str(Path(allroads.__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "200", **extra}


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "allroads.cli.main", *args], cwd=cwd,
                          env=process_env(**(env or {})), capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_demo_no_serve_as_a_process(tmp_path: Path) -> None:
    first = run_cli("demo", "--no-serve", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    out = first.stdout
    assert "after resolution" in out and "3 merged" in out
    assert "product 34 <-> crm 110 <-> support 2101" in out
    key_match = KEY.search(out)
    assert key_match is not None
    key = key_match.group(0)
    acme = re.search(r"/api/v1/accounts/(acc_\w+)/crosswalk", out)
    assert acme is not None
    assert f'curl -H "Authorization: Bearer {key}"' in out
    assert "/api/v1/resolve?type=person&email=" in out and "/api/v1/quality" in out
    assert (tmp_path / "allroads-demo.db").exists()
    assert (tmp_path / "allroads-demo.db.key").read_text().strip() == key

    second = run_cli("demo", "--no-serve", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "Already seeded" in second.stdout and key in second.stdout
    assert f"/api/v1/accounts/{acme.group(1)}/crosswalk" in second.stdout

    store = Store(f"sqlite:///{tmp_path / 'allroads-demo.db'}")
    try:
        hub = Hub(store)
        principal = hub.authenticate(key)
        assert principal is not None and principal.tenant.slug == "demo"
        assert len(hub.list_api_keys(principal.actor())) == 1
    finally:
        store.close()

    resolved = run_cli("resolve", "email=jane.cho@acmeservices.com", "--tenant", "demo",
                       "--json", cwd=tmp_path,
                       env={"ALLROADS_DATABASE_URL": "sqlite:///allroads-demo.db"})
    assert resolved.returncode == 0, resolved.stderr
    assert json.loads(resolved.stdout)["account"] == acme.group(1)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "allroads.cli.main", "serve", "--port", str(port)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=process_env(ALLROADS_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}"))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        _stopped(proc, timeout=15)


def _stopped(proc: subprocess.Popen[str], timeout: float) -> str:
    """Stop a server process; what it printed, which must hold no traceback."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)
    assert proc.stdout is not None
    output = proc.stdout.read()
    assert "Traceback" not in output, output
    return output


def test_serve_with_two_workers(hub: Hub, tmp_path: Path) -> None:
    """`allroads serve --workers 2`: two server processes share the port, each building
    the app from the environment; calls spread over both are answered and stored once."""
    key, _ = hub.create_api_key("acme", Role.INGEST)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "allroads.cli.main", "serve", "--host", "127.0.0.1",
         "--port", str(port), "--workers", "2"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # --host wins over the environment (which alone would show http://localhost:...)
        env=process_env(ALLROADS_DATABASE_URL=hub.store.url, ALLROADS_HOST="localhost"))
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not answer within 60 s")
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        assert len(children) >= 2, children  # the two workers (and uvicorn's helpers)
        ids = []
        for n in range(12):  # a new connection each: the kernel spreads them
            res = httpx.post(f"{base}/api/v1/identify", timeout=30,
                             headers={"Authorization": f"Bearer {key}"},
                             json={"type": "person", "source": "crm", "source_id": str(n % 6),
                                   "identifiers": {"email": f"w{n % 6}@workers.example.net"}})
            assert res.status_code == 200, res.text
            ids.append(res.json()["id"])
        assert ids[:6] == ids[6:] and len(set(ids)) == 6
    finally:
        output = _stopped(proc, timeout=30)
    assert f"serving http://127.0.0.1:{port} " in output and "in 2 processes" in output, output


def test_serve_as_a_process(server: str) -> None:
    deadline = time.monotonic() + 30
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            # The health check needs no API key; it is at the root or under /api/v1.
            statuses = {path: httpx.get(f"{server}{path}", timeout=2).status_code
                        for path in ("/healthz", "/api/v1/healthz")}
            break
        except httpx.TransportError as exc:
            last = exc
            time.sleep(0.2)
    else:
        pytest.fail(f"the server did not answer on {server}: {last}")
    assert 200 in statuses.values(), statuses
    docs = httpx.get(f"{server}/docs", timeout=5)
    assert docs.status_code == 200
