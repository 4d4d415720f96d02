"""`allroads import`: in-process (CliRunner) on both databases, and as a process: a real
terminal's confirmation, and an import killed (SIGKILL) in the middle of its commit and
resumed, which must commit every valid row exactly once."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from allroads.cli.imports import default_report_path, parse_mapping, parse_options
from allroads.cli.main import app
from allroads.domain.errors import InvalidInput
from allroads.domain.types import Actor, EntityType
from allroads.resolution.hub import Hub
from allroads.store import Store
from conftest import make_store
from import_helpers import kill_mid_commit, store_counts, write_people
from test_cli import process_env, run_cli

runner = CliRunner()


@pytest.fixture
def env(store: Store, actor: Actor, tmp_path: Path) -> dict[str, str | None]:
    """A CLI run against the test's database, tenant acme (made by `actor`)."""
    del actor
    return {"ALLROADS_DATABASE_URL": store.url, "ALLROADS_TENANT": "acme",
            "ALLROADS_IMPORT_DIR": str(tmp_path / "uploads")}


def invoke(env: dict[str, str | None], *args: str) -> Result:
    return runner.invoke(app, list(args), env=env)


def summary(result: Result) -> dict[str, object]:
    assert result.exit_code in (0, 1), result.output
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_option_and_mapping_parsing() -> None:
    assert parse_options(["append_country_code", "skip-empty-values=no",
                          "update_fields=email, first_name", "replace_invalid_store=S1"]) == {
        "append_country_code": True, "skip_empty_values": False,
        "update_fields": ["email", "first_name"], "replace_invalid_store": "S1"}
    for bad in (["nope=1"], ["disable_updates=maybe"], ["replace_invalid_store="]):
        with pytest.raises(InvalidInput):
            parse_options(bad)
    assert parse_mapping(["Mobile No.=mobile", "a=b=email", "Notes="]) == {
        "Mobile No.": "mobile", "a=b": "email", "Notes": ""}
    with pytest.raises(InvalidInput):
        parse_mapping(["just a column"])
    assert default_report_path(Path("/x/Customers.CSV.gz")) == Path("/x/Customers.errors.csv")
    assert default_report_path(Path("/x/list")) == Path("/x/list.errors.csv")


def test_import_file_is_the_default_command(env: dict[str, str | None], hub: Hub,
                                            actor: Actor, tmp_path: Path) -> None:
    people = write_people(tmp_path / "people.csv", 120)
    result = invoke(env, "import", str(people.path), "--profile", "people", "--source", "shop")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Preview" in out and "Rejected" in out and "Unmapped columns (ignored): Notes" in out
    assert "INVALID_EMAIL" in out and "DUPLICATE_MOBILE_IN_FILE" in out
    report = tmp_path / "people.errors.csv"
    assert f"Error report: {report}" in out
    with report.open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[0][:6] == ["First Name", "Last Name", "Mobile", "Email", "External Id", "Notes"]
    assert any("INVALID_EMAIL" in row for row in rows[1:])
    assert "committed" in out and "Created" in out
    view = hub.resolve(actor, EntityType.PERSON, kind="email", value="P0@acme-mail.com")
    assert view["first_name"] == "A"

    # The same file again changes nothing; `run` is the same command.
    again = summary(invoke(env, "import", "run", str(people.path), "-p", "people", "-s", "shop",
                           "--json"))
    counts = again["counts"]
    assert isinstance(counts, dict)
    assert (counts["create"], counts["update"], counts["unchanged"]) == (0, 0, people.valid)
    assert counts["committed"]["unchanged"] == people.valid
    assert again["status"] == "committed" and again["rows"] == people.rows
    assert isinstance(again["seconds"], float) and again["rows_per_s"]


def test_json_summary_dry_run_and_errors_path(env: dict[str, str | None], store: Store,
                                              actor: Actor, tmp_path: Path) -> None:
    people = write_people(tmp_path / "people.csv", 60)
    errors = tmp_path / "out" / "report.csv"
    errors.parent.mkdir()
    result = invoke(env, "import", str(people.path), "-p", "people", "-s", "shop", "--dry-run",
                    "--json", "--errors", str(errors))
    assert result.exit_code == 0, result.output
    data = summary(result)
    assert data["status"] == "validated" and data["dry_run"] is True
    counts = dict(data["counts"])  # type: ignore[call-overload]
    assert counts.pop("corrected") >= 0
    assert counts == {"rows": 60, "create": people.valid, "update": 0, "unchanged": 0,
                      "rejected": people.rejected}
    assert data["error_report"] == str(errors) and errors.exists()
    assert data["columns"]["unmapped"] == ["Notes"]  # type: ignore[index]
    assert "Validating" in result.stderr and "Preview" in result.stderr
    assert store_counts(store, actor.tenant_id)["records"] == 0
    listed = json.loads(invoke(env, "import", "list", "--json").stdout)
    assert [i["id"] for i in listed] == [data["id"]]
    status = json.loads(invoke(env, "import", "status", str(data["id"]), "--json").stdout)
    assert status["status"] == "validated" and status["first_errors"]
    shown = invoke(env, "import", "status", str(data["id"]))
    assert shown.exit_code == 0 and "validated" in shown.stdout and "people.csv" in shown.stdout
    refused = invoke(env, "import", "commit", str(data["id"]))
    assert refused.exit_code == 1 and "dry run" in refused.stderr
    report = invoke(env, "import", "errors", str(data["id"]))
    assert report.exit_code == 0 and "INVALID_EMAIL" in report.stdout
    assert report.stdout.lstrip("\ufeff").startswith("First Name,Last Name")


def test_templates_options_and_mappings(env: dict[str, str | None], hub: Hub, actor: Actor,
                                        tmp_path: Path) -> None:
    saved = invoke(env, "import", "template", "set", "people", "handy", "--match-on", "email",
                   "--option", "append_country_code", "--map", "Handy=mobile", "--json")
    assert saved.exit_code == 0, saved.output
    assert json.loads(saved.stdout)["mapping"] == {"Handy": "mobile"}
    listed = json.loads(invoke(env, "import", "template", "list", "--profile", "people",
                               "--json").stdout)
    assert [(t["name"], t["match_on"], t["options"]["append_country_code"]) for t in listed] \
        == [("handy", "email", True)]
    assert "handy" in invoke(env, "import", "template", "list").stdout
    path = tmp_path / "handy.csv"
    path.write_text("First Name,Handy,Email,Fax\nJo,(212) 555-0100,jo@acme-mail.com,1\n"
                    "Al,212 555 0101,al@acme-mail.com,2\n", encoding="utf-8")
    data = summary(invoke(env, "import", str(path), "-p", "people", "-s", "shop", "--template",
                          "handy", "--map", "Fax=", "--json"))
    assert data["status"] == "committed", data
    assert data["counts"]["committed"]["created"] == 2  # type: ignore[index]
    assert data["columns"]["unmapped"] == []  # type: ignore[index]
    view = hub.resolve(actor, EntityType.PERSON, kind="phone", value="+12125550101")
    assert view["first_name"] == "Al"
    bad = invoke(env, "import", "template", "set", "people", "x", "--option", "nope")
    assert bad.exit_code == 2 and "unknown option" in bad.stderr


def test_bad_usage_and_failures(env: dict[str, str | None], tmp_path: Path) -> None:
    people = write_people(tmp_path / "people.csv", 5)
    cases = [
        (["import", str(tmp_path / "missing.csv"), "-p", "people", "-s", "shop"], 2, "exist"),
        (["import", str(people.path), "-p", "robots", "-s", "shop"], 2, "Unknown import profile"),
        (["import", str(people.path), "-p", "people", "-s", "shop", "--option", "x=1"], 2,
         "unknown option"),
        (["import", str(people.path), "-p", "people", "-s", "shop", "--template", "none"], 1,
         "no template 'none'"),
        (["import", str(people.path), "-p", "people", "-s", "shop", "-t", "acmee"], 1,
         "no tenant 'acmee'"),
        (["import", "status", "imp_nothing"], 1, "no import"),
        (["import", str(people.path), "-p", "people", "-s", "shop", "--errors",
          str(tmp_path / "nowhere" / "e.csv")], 2, "does not exist"),
    ]
    for args, code, needle in cases:
        result = invoke(env, *args)
        assert result.exit_code == code, (args, result.output)
        assert needle in result.output, (args, result.output)
        assert "Traceback" not in result.output
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = invoke(env, "import", str(empty), "-p", "people", "-s", "shop")
    assert result.exit_code == 2 and "empty" in result.stderr
    no_key = tmp_path / "names.csv"
    no_key.write_text("First Name,Last Name\nJo,Lee\n", encoding="utf-8")
    result = invoke(env, "import", str(no_key), "-p", "people", "-s", "shop", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "failed" and "mandatory" in str(data["error"])
    assert "allroads import replay" in result.stderr


def test_profiles_sample_undo_and_replay(env: dict[str, str | None], store: Store,
                                         actor: Actor, tmp_path: Path) -> None:
    listed = invoke(env, "import", "profiles")
    assert listed.exit_code == 0 and "people" in listed.stdout and "accounts" in listed.stdout
    names = [p["name"] for p in json.loads(invoke(env, "import", "profiles", "--json").stdout)]
    assert "people" in names and "id_map" in names
    sample = invoke(env, "import", "sample", "accounts")
    assert sample.exit_code == 0
    header, row = list(csv.reader(sample.stdout.splitlines()))[:2]
    assert row[header.index("Display Name")] == "mandatory"

    before = store_counts(store, actor.tenant_id)
    people = write_people(tmp_path / "people.csv", 30)
    data = summary(invoke(env, "import", str(people.path), "-p", "people", "-s", "shop",
                          "--json"))
    assert store_counts(store, actor.tenant_id)["people"] == people.valid
    replay = invoke(env, "import", "replay", str(data["id"]))
    assert replay.exit_code == 1 and "only a failed import can be replayed" in replay.stderr
    undone = invoke(env, "import", "undo", str(data["id"]), "--yes")
    assert undone.exit_code == 0, undone.output
    assert "Records removed" in undone.stdout
    after = store_counts(store, actor.tenant_id)
    assert (after["people"], after["records"]) == (before["people"], before["records"])
    again = invoke(env, "import", "undo", str(data["id"]), "--yes")
    assert again.exit_code == 1, again.output


# As a process ------------------------------------------------------------------------------
def child_env(store: Store, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"ALLROADS_DATABASE_URL": store.url, "ALLROADS_TENANT": "acme",
            "ALLROADS_IMPORT_DIR": str(tmp_path / "uploads"), **extra}


def test_a_terminal_is_asked_before_the_commit(store: Store, actor: Actor,
                                               tmp_path: Path) -> None:
    people = write_people(tmp_path / "people.csv", 20)
    leader, follower = os.openpty()
    os.write(leader, b"n\n")  # typed ahead: read by the question
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "allroads.cli.main", "import", str(people.path), "-p",
             "people", "-s", "shop"], stdin=follower, capture_output=True, text=True,
            env=process_env(**child_env(store, tmp_path)), cwd=tmp_path, timeout=120,
            check=False)
    finally:
        os.close(follower)
        os.close(leader)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"Commit {people.valid} rows ({people.valid} new, 0 updates, 0 unchanged)?" \
        in proc.stderr
    assert "Not committed" in proc.stdout
    with store.read() as tx:
        [job] = tx.list_imports(actor.tenant_id, before_id=None, limit=5)
    assert job.status == "validated"
    assert store_counts(store, actor.tenant_id)["records"] == 0
    done = run_cli("import", "commit", job.public_id, cwd=tmp_path,
                   env=child_env(store, tmp_path))
    assert done.returncode == 0, done.stderr
    assert store_counts(store, actor.tenant_id)["people"] == people.valid


def uninterrupted(request: pytest.FixtureRequest, backend: str, tmp_path: Path,
                  csv_path: Path) -> dict[str, int]:
    """What the import of `csv_path` leaves in a fresh database, run without a break."""
    folder = tmp_path / "baseline"
    folder.mkdir()
    stores = make_store("postgres" if backend == "postgresql" else "sqlite", request, folder)
    other = next(stores)
    try:
        tenant = Hub(other).ensure_tenant("acme", default_region="US")
        result = run_cli("import", str(csv_path), "-p", "people", "-s", "shop", "--yes",
                         "--json", cwd=folder, env=child_env(other, folder))
        assert result.returncode == 0, result.stderr
        return store_counts(other, tenant.id)
    finally:
        next(stores, None)


def test_killed_import_resumes_without_losing_or_duplicating_rows(
        request: pytest.FixtureRequest, store: Store, actor: Actor, tmp_path: Path) -> None:
    people = write_people(tmp_path / "people.csv", 1200)
    env = child_env(store, tmp_path)
    small_batches = {**env, "ALLROADS_IMPORT_BATCH_ROWS": "40"}  # commits 20 rows a batch
    kill_mid_commit(["import", str(people.path), "-p", "people", "-s", "shop", "--yes",
                     "--json"], process_env(**small_batches), tmp_path, store, actor.tenant_id,
                    people.valid)
    with store.read() as tx:
        [job] = tx.list_imports(actor.tenant_id, before_id=None, limit=5)
    assert job.status == "committing" and job.committed_rows < people.valid
    partial = store_counts(store, actor.tenant_id)
    assert 0 < partial["people"] < people.valid

    resumed = run_cli("import", "resume", job.public_id, "--json", cwd=tmp_path,
                      env=small_batches)
    assert resumed.returncode == 0, resumed.stderr
    data = json.loads(resumed.stdout)
    assert data["status"] == "committed"
    assert data["counts"]["committed"]["created"] == people.valid
    assert data["counts"]["committed"]["failed"] == 0
    after = store_counts(store, actor.tenant_id)
    assert after["people"] == after["records"] == after["versions"] == people.valid
    assert after == uninterrupted(request, store.backend, tmp_path, people.path)

    again = run_cli("import", str(people.path), "-p", "people", "-s", "shop", "--yes",
                    "--json", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)["counts"]
    assert (second["create"], second["update"], second["unchanged"]) == (0, 0, people.valid)
    assert second["committed"]["unchanged"] == people.valid
    assert store_counts(store, actor.tenant_id) == after
