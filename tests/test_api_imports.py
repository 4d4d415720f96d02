"""The import routes end to end, on both databases: upload (streamed, multipart), the
background runner, preview, commit, errors.csv, replay, undo, templates, settings, profiles,
roles, tenant isolation and Idempotency-Key on uploads."""

from __future__ import annotations

import csv
import gzip
import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient

from allroads.api import create_app
from allroads.domain.errors import Conflict, NotFound
from allroads.domain.types import Actor, EntityType, Role
from allroads.ingest.runner import ImportRunner
from allroads.ingest.service import ImportConfig, Imports
from allroads.resolution.hub import Hub
from allroads.settings import Settings
from allroads.store import Store
from api_helpers import Api, assert_problem

PEOPLE = ("First Name,Last Name,Mobile,Email,External Id\n"
          "Tom,Sawyer,+14155550101,tom@example.com,c1\n"
          "Huck,Finn,+14155550102,huck@example.com,c2\n"
          "Becky,Thatcher,+14155550103,becky@example.com,c3\n"
          "Joe,Injun,+14155550104,not-an-email,c4\n")


def build_api(hub: Hub, tmp_path: Path, **settings: Any) -> Iterator[Api]:
    hub.ensure_tenant("acme", default_region="US")
    key, _ = hub.create_api_key("acme", Role.ADMIN)
    app = create_app(Settings(import_dir=str(tmp_path / "imports"), **settings), hub=hub)
    with TestClient(app) as client:  # runs the lifespan: the runner starts and stops
        yield Api(client, hub, key, "acme")


@pytest.fixture
def api(hub: Hub, tmp_path: Path) -> Iterator[Api]:
    yield from build_api(hub, tmp_path)


def upload(api: Api, text: str | bytes, *, filename: str = "people.csv",
           headers: dict[str, str] | None = None, **fields: Any) -> httpx.Response:
    data = {"profile": "people", "source": "shop", **{k: str(v).lower() if isinstance(
        v, bool) else v for k, v in fields.items()}}
    content = text.encode() if isinstance(text, str) else text
    return api.post("/imports", files={"file": (filename, content, "text/csv")}, data=data,
                    headers=headers)


def submitted(api: Api, text: str | bytes, **fields: Any) -> dict[str, Any]:
    res = upload(api, text, **fields)
    assert res.status_code == 202, res.text
    view: dict[str, Any] = res.json()
    assert res.headers["Location"] == f"/api/v1/imports/{view['id']}"
    return view


def people_csv(n: int) -> str:
    """`n` valid, distinct people (names are letters only: digits are rejected)."""
    def name(i: int) -> str:
        return "".join(chr(ord("a") + int(d)) for d in str(i)).title()
    return "First Name,Last Name,Mobile,Email,External Id\n" + "".join(
        f"{name(i)},Doe,+1415555{i:04d},p{i}@example.com,x{i}\n" for i in range(n))


def wait_for(api: Api, import_id: str, *statuses: str, timeout: float = 60) -> dict[str, Any]:
    """Poll GET /imports/{id} until the import is in one of `statuses`, with the runner
    done with it."""
    deadline = time.monotonic() + timeout
    while True:
        view: dict[str, Any] = api.ok("GET", f"/imports/{import_id}")
        if view["status"] in statuses and view["runner"] is None:
            return view
        assert time.monotonic() < deadline, f"still {view['status']} after {timeout} s: {view}"
        time.sleep(0.05)


# Upload, preview, commit -------------------------------------------------------------------
def test_upload_preview_commit(api: Api) -> None:
    view = submitted(api, PEOPLE)
    assert view["status"] in ("validating", "validated")
    assert view["filename"] == "people.csv" and view["source"] == "shop"
    validated = wait_for(api, view["id"], "validated")
    assert validated["counts"] == {"rows": 4, "create": 3, "update": 0, "unchanged": 0,
                                   "rejected": 1, "corrected": 0}
    assert validated["progress"]["validated_rows"] == 4
    # Rows are numbered as a spreadsheet shows them: the header is row 1.
    assert [(e["row_number"], e["code"]) for e in validated["first_errors"]] == [
        (5, "INVALID_EMAIL")]
    assert validated["columns"]["mapping"]["Email"] == "email"
    assert api.ok("GET", "/people")["data"] == []  # validation changes nothing

    rejected = api.ok("GET", f"/imports/{view['id']}/rows", params={"status": "rejected"})
    assert [r["row_number"] for r in rejected["data"]] == [5]
    page = api.ok("GET", f"/imports/{view['id']}/rows", params={"limit": 2})
    assert [r["row_number"] for r in page["data"]] == [2, 3] and page["next_after"] == 3
    rest = api.ok("GET", f"/imports/{view['id']}/rows",
                  params={"limit": 2, "after": page["next_after"]})
    assert [r["row_number"] for r in rest["data"]] == [4, 5]
    assert_problem(api.get(f"/imports/{view['id']}/rows", params={"status": "nope"}), 422)

    started = api.ok("POST", f"/imports/{view['id']}/commit", 202)
    assert started["status"] == "committing"
    done = wait_for(api, view["id"], "committed")
    assert done["counts"]["committed"]["created"] == 3
    assert done["progress"]["committed_rows"] >= 3
    emails = sorted(e for p in api.ok("GET", "/people")["data"] for e in p["emails"])
    assert emails == ["becky@example.com", "huck@example.com", "tom@example.com"]
    again = assert_problem(api.post(f"/imports/{view['id']}/commit"), 409, "conflict")
    assert "committed" in again["detail"]

    listed = api.ok("GET", "/imports")
    assert [i["id"] for i in listed["data"]] == [view["id"]]
    assert listed["next_cursor"] is None


def test_auto_commit_and_reimport_changes_nothing(api: Api) -> None:
    first = submitted(api, PEOPLE, auto_commit=True)
    done = wait_for(api, first["id"], "committed")
    assert done["counts"]["committed"]["created"] == 3
    second = submitted(api, PEOPLE, auto_commit=True)
    again = wait_for(api, second["id"], "committed")
    assert again["counts"]["unchanged"] == 3 and again["counts"]["create"] == 0
    assert len(api.ok("GET", "/people")["data"]) == 3
    page = api.ok("GET", "/imports", params={"limit": 1})
    assert [i["id"] for i in page["data"]] == [second["id"]]  # newest first
    rest = api.ok("GET", "/imports", params={"limit": 1, "cursor": page["next_cursor"]})
    assert [i["id"] for i in rest["data"]] == [first["id"]]


def test_dry_run_cannot_be_committed(api: Api) -> None:
    view = submitted(api, PEOPLE, dry_run=True, auto_commit=True)
    validated = wait_for(api, view["id"], "validated")
    assert validated["dry_run"] is True and validated["auto_commit"] is False
    problem = assert_problem(api.post(f"/imports/{view['id']}/commit"), 409, "conflict")
    assert "dry run" in problem["detail"]
    assert api.ok("GET", "/people")["data"] == []


def test_gzip_and_semicolons(api: Api) -> None:
    text = PEOPLE.replace(",", ";")
    view = submitted(api, gzip.compress(text.encode("cp1252")), filename="people.csv.gz")
    validated = wait_for(api, view["id"], "validated")
    assert validated["file"]["compression"] == "gzip"
    assert validated["file"]["delimiter"] == ";"
    assert validated["counts"]["create"] == 3


# Upload errors ------------------------------------------------------------------------------
def test_unreadable_file_is_refused_at_upload(api: Api) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    problem = assert_problem(upload(api, png, filename="photo.png"), 422)
    assert problem["field"] == "file" and problem["hint"]
    empty = assert_problem(upload(api, b""), 422)
    assert "empty" in empty["detail"]
    assert api.ok("GET", "/imports")["data"] == []


def test_upload_form_errors(api: Api) -> None:
    res = api.post("/imports", json={"profile": "people"})
    assert "multipart/form-data" in assert_problem(res, 422)["detail"]
    res = api.post("/imports", data={"profile": "people", "source": "shop"},
                   files={"other": ("a.txt", b"x")})
    assert assert_problem(res, 422)["field"] == "other"
    res = api.post("/imports", data={"profile": "people", "source": "shop", "x": "1"},
                   files={"file": ("a.csv", b"a\n1\n")})
    assert assert_problem(res, 422)["field"] == "x"
    res = api.post("/imports", data={"profile": "people", "source": "shop", "dryrun": "1"},
                   files={"file": ("a.csv", b"a\n1\n")})
    assert "dry_run" in assert_problem(res, 422)["hint"]
    res = api.post("/imports", data={"profile": "people", "source": "shop"})  # url-encoded
    assert "multipart/form-data" in assert_problem(res, 422)["detail"]
    res = api.post("/imports", files={"profile": (None, "people"), "source": (None, "shop")})
    assert assert_problem(res, 422)["field"] == "file"
    problem = assert_problem(upload(api, PEOPLE, source=""), 422)
    assert problem["field"] == "source"
    problem = assert_problem(upload(api, PEOPLE, profile="martians"), 422)
    assert problem["field"] == "profile" and "people" in problem["hint"]
    problem = assert_problem(upload(api, PEOPLE, dry_run="perhaps"), 422)
    assert problem["field"] == "dry_run"
    problem = assert_problem(upload(api, PEOPLE, template_data="{not json"), 422)
    assert problem["field"] == "template_data"
    problem = assert_problem(upload(api, PEOPLE, template="nope"), 404)
    assert "nope" in problem["detail"]
    problem = assert_problem(upload(api, PEOPLE, match_on="fax"), 422)
    assert problem["field"] == "match_on"
    assert api.ok("GET", "/imports")["data"] == []
    assert not list((Path(api.client.app.state.imports.config.upload_dir)  # type: ignore
                     / "incoming").iterdir())  # no upload left behind


def test_missing_mandatory_column_fails_and_replay(api: Api) -> None:
    view = submitted(api, "Nickname\nTom\n")
    failed = wait_for(api, view["id"], "failed")
    assert "no column for the mandatory" in failed["error"]
    assert failed["replayable_until"] is not None
    replayed = api.ok("POST", f"/imports/{view['id']}/replay", 202)
    assert replayed["id"] == view["id"]
    again = wait_for(api, view["id"], "failed")
    assert "no column for the mandatory" in again["error"]
    ok = submitted(api, PEOPLE)
    wait_for(api, ok["id"], "validated")
    problem = assert_problem(api.post(f"/imports/{ok['id']}/replay"), 409, "conflict")
    assert "only a failed import can be replayed" in problem["detail"]


def test_size_limits(hub: Hub, tmp_path: Path) -> None:
    """The JSON body limit does not apply to uploads; the import limit does."""
    for api in build_api(hub, tmp_path, max_body_bytes=2_000, import_max_bytes=20_000):
        big = people_csv(200)
        assert 2_000 < len(big) < 20_000
        view = submitted(api, big)
        assert wait_for(api, view["id"], "validated")["counts"]["create"] == 200
        problem = assert_problem(upload(api, big * 3), 413, "body_too_large")
        assert "ALLROADS_IMPORT_MAX_BYTES" in problem["hint"]
        assert_problem(api.post("/people", json={"name": "x" * 3_000}), 413)


# errors.csv and the sample ------------------------------------------------------------------
def test_errors_csv(api: Api) -> None:
    text = ("First Name,Last Name,Mobile,Email,External Id\n"
            '"=HYPERLINK(""http://evil"")",Evil,+14155550101,bad-email,e1\n'
            "Ann,Good,+14155550102,ann@example.com,e2\n")
    view = submitted(api, text)
    wait_for(api, view["id"], "validated")
    res = api.get(f"/imports/{view['id']}/errors.csv")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/csv")
    assert f'filename="{view["id"]}-errors.csv"' in res.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(res.text.lstrip("\ufeff"))))
    header = rows[0]
    assert header[:5] == ["First Name", "Last Name", "Mobile", "Email", "External Id"]
    assert {"row_number", "column", "code", "message"} <= set(header)
    data = [dict(zip(header, r, strict=True)) for r in rows[1:]]
    bad = [r for r in data if r["code"] == "INVALID_EMAIL"]
    assert len(bad) == 1 and bad[0]["row_number"] == "2" and bad[0]["column"] == "Email"
    assert bad[0]["First Name"] == "'=HYPERLINK(\"http://evil\")"
    assert not any(r["External Id"] == "e2" and r.get("severity") == "error" for r in data)


def test_profiles_sample_and_codes(api: Api) -> None:
    profiles = api.ok("GET", "/import-profiles")["data"]
    names = {p["name"] for p in profiles}
    assert {"people", "accounts", "cards", "subscriptions", "id_map", "stores"} <= names
    people = api.ok("GET", "/import-profiles/people")
    assert "mobile" in people["match_on"] and people["fields"]
    assert_problem(api.get("/import-profiles/martians"), 404, "not_found")

    for profile in profiles:
        res = api.get(f"/import-profiles/{profile['name']}/sample.csv")
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
        assert f'filename="{profile["name"]}-sample.csv"' in res.headers["content-disposition"]
        assert res.text == profile["sample_csv"]
        header, sample = list(csv.reader(io.StringIO(res.text)))
        fields = {f["label"]: f for f in profile["fields"]}
        for label, value in zip(header, sample, strict=True):
            if label in fields:
                assert (value == "mandatory") == fields[label]["mandatory"], label
    accounts = api.get("/import-profiles/accounts/sample.csv").text.splitlines()
    assert accounts[0].startswith("Display Name,") and accounts[1].startswith("mandatory,")
    assert_problem(api.get("/import-profiles/martians/sample.csv"), 404)

    codes = {c["code"]: c for c in api.ok("GET", "/import-codes")["data"]}
    assert codes["INVALID_EMAIL"]["severity"] == "error"
    assert any(c["severity"] == "warning" for c in codes.values())


# Templates and settings ---------------------------------------------------------------------
def test_template_crud_and_use(api: Api) -> None:
    body = {"match_on": "email", "mapping": {"Courriel": "email", "Prenom": "first_name",
                                             "Nom": "last_name", "Notes": ""},
            "options": {"skip_empty_values": True}}
    saved = api.ok("PUT", "/import-templates/people/french", json=body)
    assert saved["name"] == "french" and saved["profile"] == "people"
    assert saved["mapping"]["Courriel"] == "email" and saved["options"]["skip_empty_values"]
    assert api.ok("GET", "/import-templates/people/french")["match_on"] == "email"
    assert [t["name"] for t in api.ok("GET", "/import-templates",
                                      params={"profile": "people"})["data"]] == ["french"]
    assert api.ok("GET", "/import-templates", params={"profile": "accounts"})["data"] == []

    problem = assert_problem(api.put("/import-templates/people/bad", json={
        "options": {"append_contry_code": True}}), 422, "invalid_input")
    assert problem["field"] == "options.append_contry_code"
    problem = assert_problem(api.put("/import-templates/people/bad", json={
        "mapping": {"Fax": "fax"}}), 422, "invalid_input")
    assert problem["field"] == "mapping.Fax" and "valid fields" in problem["hint"]
    problem = assert_problem(api.put("/import-templates/people/bad", json={
        "match_on": "fax"}), 422, "invalid_input")
    assert problem["field"] == "match_on" and "mobile" in problem["hint"]
    problem = assert_problem(api.put("/import-templates/people/bad", json={
        "maping": {}}), 422, "validation_error")
    assert problem["hint"] == "did you mean 'mapping'?"
    problem = assert_problem(api.put("/import-templates/stores/bad", json={
        "options": {"skip_redemption_range_check": True}}), 422)
    assert "not supported by profile 'stores'" in problem["detail"]
    assert_problem(api.put("/import-templates/martians/x", json={}), 404)
    assert_problem(api.get("/import-templates/people/bad"), 404)

    text = ("Prenom,Nom,Courriel,Notes\n"
            "Jean,Valjean,jean@example.com,prisoner 24601\n")
    view = submitted(api, text, template="french")
    validated = wait_for(api, view["id"], "validated")
    assert validated["template"]["name"] == "french"
    assert validated["counts"]["create"] == 1, validated
    inline = submitted(api, text, template='{"mapping": {"Courriel": "email", '
                       '"Prenom": "first_name", "Nom": "last_name"}}', match_on="email")
    assert wait_for(api, inline["id"], "validated")["counts"]["create"] == 1

    assert api.delete("/import-templates/people/french").status_code == 204
    assert_problem(api.get("/import-templates/people/french"), 404)
    assert_problem(api.delete("/import-templates/people/french"), 404)


def test_settings_mobile_regex(api: Api) -> None:
    assert api.ok("GET", "/import-settings") == {"mobile_regex": None}
    problem = assert_problem(api.put("/import-settings", json={"mobile_regex": "[0-9"}), 422)
    assert problem["field"] == "mobile_regex"
    assert_problem(api.put("/import-settings", json={"mobile_rgx": "x"}), 422,
                   "validation_error")
    saved = api.ok("PUT", "/import-settings", json={"mobile_regex": r"^\+1415555010[12]$"})
    assert saved == {"mobile_regex": r"^\+1415555010[12]$"}
    view = submitted(api, PEOPLE)
    validated = wait_for(api, view["id"], "validated")
    codes = {(e["row_number"], e["code"]) for e in validated["first_errors"]}
    assert (4, "INVALID_MOBILE") in codes and (2, "INVALID_MOBILE") not in codes
    assert api.ok("PUT", "/import-settings", json={}) == {"mobile_regex": None}


# Undo -----------------------------------------------------------------------------------------
def test_undo_restores(api: Api) -> None:
    kept = api.identify("person", "crm", "k1", {"name": "Kept Person"}, email="kept@x.com")
    view = submitted(api, PEOPLE, auto_commit=True)
    wait_for(api, view["id"], "committed")
    assert len(api.ok("GET", "/people")["data"]) == 4
    assert_problem(api.with_role(Role.INGEST).post(f"/imports/{view['id']}/undo"), 403)

    undone = api.ok("POST", f"/imports/{view['id']}/undo")
    assert undone["status"] == "undone" and undone["undone_at"]
    assert undone["undo"]["records_removed"] == 3
    assert undone["undo"]["entities_deleted"] == 3 and undone["undo"]["not_reverted"] == []
    assert [p["id"] for p in api.ok("GET", "/people")["data"]] == [kept["id"]]
    again = assert_problem(api.post(f"/imports/{view['id']}/undo"), 409, "conflict")
    assert "undone" in again["detail"]
    pending = submitted(api, PEOPLE, dry_run=True)
    wait_for(api, pending["id"], "validated")
    problem = assert_problem(api.post(f"/imports/{pending['id']}/undo"), 409)
    assert problem["hint"] == "nothing was applied yet"


# Access ---------------------------------------------------------------------------------------
def test_roles(api: Api) -> None:
    viewer = api.with_role(Role.VIEWER)
    ingest = api.with_role(Role.INGEST)
    assert_problem(upload(viewer, PEOPLE), 403, "permission_denied")
    view = submitted(ingest, PEOPLE)
    wait_for(viewer, view["id"], "validated")
    assert viewer.ok("GET", "/imports")["data"][0]["id"] == view["id"]
    assert viewer.get(f"/imports/{view['id']}/errors.csv").status_code == 200
    assert viewer.ok("GET", "/import-profiles")["data"]
    assert viewer.ok("GET", "/import-templates")["data"] == []
    assert viewer.ok("GET", "/import-settings") == {"mobile_regex": None}
    assert_problem(viewer.post(f"/imports/{view['id']}/commit"), 403)
    assert_problem(ingest.put("/import-templates/people/t", json={}), 403)
    assert_problem(ingest.put("/import-settings", json={}), 403)
    assert_problem(ingest.delete("/import-templates/people/t"), 403)
    api.with_role(Role.EDITOR).ok("PUT", "/import-templates/people/t", json={})
    ingest.ok("POST", f"/imports/{view['id']}/commit", 202)
    wait_for(ingest, view["id"], "committed")
    assert_problem(api.client.get("/api/v1/imports"), 401)


def test_tenant_isolation(api: Api) -> None:
    view = submitted(api, PEOPLE)
    wait_for(api, view["id"], "validated")
    api.ok("PUT", "/import-templates/people/mine", json={})
    api.ok("PUT", "/import-settings", json={"mobile_regex": "^x$"})
    other = api.with_role(Role.ADMIN, tenant="globex")
    base = f"/imports/{view['id']}"
    for method, path in (("GET", base), ("GET", f"{base}/rows"), ("GET", f"{base}/errors.csv"),
                         ("POST", f"{base}/commit"), ("POST", f"{base}/replay"),
                         ("POST", f"{base}/undo")):
        problem = assert_problem(other.request(method, path), 404, "not_found")
        assert view["id"] in problem["detail"], (method, path)
    assert other.ok("GET", "/imports")["data"] == []
    assert other.ok("GET", "/import-templates")["data"] == []
    assert_problem(other.get("/import-templates/people/mine"), 404)
    assert_problem(other.delete("/import-templates/people/mine"), 404, "not_found")
    assert other.ok("GET", "/import-settings") == {"mobile_regex": None}
    # Untouched by the other tenant.
    assert api.ok("GET", base)["status"] == "validated"
    assert [t["name"] for t in api.ok("GET", "/import-templates")["data"]] == ["mine"]


# Idempotency ------------------------------------------------------------------------------------
def test_idempotent_upload(api: Api) -> None:
    key = {"Idempotency-Key": "upload-1"}
    first = upload(api, PEOPLE, headers=key)
    assert first.status_code == 202
    again = upload(api, PEOPLE, headers=key)
    assert again.status_code == 202 and again.headers["Idempotency-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert len(api.ok("GET", "/imports")["data"]) == 1
    other_file = assert_problem(upload(api, PEOPLE + "Amy,Lawrence,,amy@example.com,c5\n",
                                       headers=key), 422, "idempotency_key_reused")
    assert "file or form fields" in other_file["detail"]
    other_fields = assert_problem(upload(api, PEOPLE, headers=key, source="crm"), 422,
                                  "idempotency_key_reused")
    assert other_fields["field"] == "header.Idempotency-Key"
    assert_problem(upload(api, PEOPLE, headers={"Idempotency-Key": " "}), 422,
                   "idempotency_key_invalid")
    # An upload refused (422) is remembered too: the retry gets the same answer.
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    key2 = {"Idempotency-Key": "upload-2"}
    refused = assert_problem(upload(api, png, headers=key2), 422)
    replayed = upload(api, png, headers=key2)
    assert replayed.headers["Idempotency-Replayed"] == "true"
    assert replayed.json()["detail"] == refused["detail"]
    wait_for(api, first.json()["id"], "validated")
    commit_key = {"Idempotency-Key": "commit-1"}
    started = api.ok("POST", f"/imports/{first.json()['id']}/commit", 202, headers=commit_key)
    retried = api.post(f"/imports/{first.json()['id']}/commit", headers=commit_key)
    assert retried.status_code == 202 and retried.json()["id"] == started["id"]
    wait_for(api, first.json()["id"], "committed")


def test_openapi_documents_the_upload(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    post = spec["paths"]["/api/v1/imports"]["post"]
    form = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"]["file"]["format"] == "binary"
    assert {"file", "profile", "source"} <= set(form["required"])
    assert "ImportOut" in post["responses"]["202"]["content"]["application/json"]["schema"][
        "$ref"]
    csv_get = spec["paths"]["/api/v1/imports/{id}/errors.csv"]["get"]
    assert "text/csv" in csv_get["responses"]["200"]["content"]
    assert api.client.get("/docs/openapi-3.0.json").status_code == 200


# The runner -------------------------------------------------------------------------------------
class Crash(BaseException):
    """Stands for the process dying: nothing after it runs, the job row stays claimed."""


def crash_after_first_batch(_progress: object) -> None:
    raise Crash


@pytest.fixture
def imports(store: Store, tmp_path: Path) -> Imports:
    return Imports(store, ImportConfig(upload_dir=tmp_path / "uploads", batch_size=2))


def people_file(tmp_path: Path, n: int = 9) -> Path:
    path = tmp_path / "people.csv"
    path.write_text(people_csv(n))
    return path


def test_runner_resumes_an_interrupted_validation(imports: Imports, actor: Actor,
                                                  tmp_path: Path) -> None:
    path = people_file(tmp_path)
    job = imports.submit(actor, path, filename=path.name, profile="people", source="shop",
                         auto_commit=True)
    with pytest.raises(Crash):
        imports.validate(actor, job["id"], progress=crash_after_first_batch)
    assert imports.get(actor, job["id"])["status"] == "validating"

    runner = ImportRunner(imports, stale_seconds=0, poll_seconds=0)
    runner.start()
    try:
        assert runner.wait_idle(60)
    finally:
        assert runner.stop()
    view = imports.get(actor, job["id"])
    assert view["status"] == "committed", view
    assert view["counts"]["committed"]["created"] == 9


def test_runner_resumes_an_interrupted_commit(imports: Imports, actor: Actor, hub: Hub,
                                              tmp_path: Path) -> None:
    path = people_file(tmp_path)
    job = imports.submit(actor, path, filename=path.name, profile="people", source="shop")
    imports.validate(actor, job["id"])
    with pytest.raises(Crash):
        imports.commit(actor, job["id"], progress=crash_after_first_batch)
    assert imports.get(actor, job["id"])["status"] == "committing"
    assert 0 < imports.get(actor, job["id"])["progress"]["committed_rows"] < 9

    runner = ImportRunner(imports, stale_seconds=0, poll_seconds=0)
    runner.start()
    try:
        assert runner.wait_idle(60)
    finally:
        runner.stop()
    view = imports.get(actor, job["id"])
    assert view["status"] == "committed"
    assert view["counts"]["committed"]["created"] == 9
    people, _ = hub.list_entities(actor, EntityType.PERSON, cursor=None, limit=50, query=None)
    assert len(people) == 9  # nothing lost, nothing twice


def test_runner_stop_leaves_the_job_resumable(imports: Imports, actor: Actor,
                                              tmp_path: Path) -> None:
    path = people_file(tmp_path, 2000)
    job = imports.submit(actor, path, filename=path.name, profile="people", source="shop")
    runner = ImportRunner(imports, poll_seconds=0)
    runner.start()
    assert runner.process(actor, job["id"])["status"] == "validating"
    deadline = time.monotonic() + 30
    while imports.get(actor, job["id"])["progress"]["validated_rows"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert runner.stop(30)  # the server shuts down in the middle of the validation
    view = imports.get(actor, job["id"])
    assert view["status"] == "validating", view["status"]
    assert 0 < view["progress"]["validated_rows"] < 2000
    assert [i for _, i in imports.pending(stale_seconds=0)] == [job["id"]]
    # The next start picks it up (with bigger batches, to keep the test short).
    bigger = Imports(imports.store, ImportConfig(upload_dir=tmp_path / "uploads",
                                                 batch_size=500))
    again = ImportRunner(bigger, stale_seconds=0, poll_seconds=0)
    again.start()
    try:
        assert again.wait_idle(120)
    finally:
        again.stop()
    assert imports.get(actor, job["id"])["counts"]["create"] == 2000


def test_runner_synchronous_mode_and_conflicts(imports: Imports, actor: Actor,
                                               tmp_path: Path) -> None:
    path = people_file(tmp_path, 3)
    runner = ImportRunner(imports, workers=0)
    job = imports.submit(actor, path, filename=path.name, profile="people", source="shop")
    assert runner.process(actor, job["id"])["status"] == "validated"
    assert runner.commit(actor, job["id"])["status"] == "committed"
    with pytest.raises(Conflict):
        runner.commit(actor, job["id"])
    with pytest.raises(Conflict, match="only a failed import"):
        runner.replay(actor, job["id"])
    with pytest.raises(NotFound):
        runner.commit(Actor(actor.tenant_id + 1, "x"), job["id"])


def test_replay_window(store: Store, actor: Actor, tmp_path: Path) -> None:
    imports = Imports(store, ImportConfig(upload_dir=tmp_path / "uploads", replay_days=0))
    bad = tmp_path / "bad.csv"
    bad.write_text("Nickname\nTom\n")
    runner = ImportRunner(imports, workers=0)
    job = imports.submit(actor, bad, filename="bad.csv", profile="people", source="shop")
    assert runner.process(actor, job["id"])["status"] == "failed"
    with pytest.raises(Conflict, match="can no longer be replayed"):
        runner.replay(actor, job["id"])


# A real server --------------------------------------------------------------------------------
def test_over_a_real_server(tmp_path: Path) -> None:
    """uvicorn over a SQLite file: the lifespan starts the runner; the upload streams over
    real HTTP past the (small) JSON body limit, and past the import limit it is a 413."""
    url = f"sqlite:///{tmp_path / 'allroads.db'}"
    setup = Store(url)
    setup.migrate()
    key, _ = Hub(setup).create_api_key("acme", Role.INGEST)
    setup.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(Settings(database_url=url, max_body_bytes=1_000,
                              import_max_bytes=100_000, import_dir=str(tmp_path / "imp")))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30,
                          headers={"Authorization": f"Bearer {key}"}) as http:
            text = people_csv(100)
            res = http.post("/imports", files={"file": ("p.csv", text.encode())},
                            data={"profile": "people", "source": "shop",
                                  "auto_commit": "true"})
            assert res.status_code == 202, res.text
            job = res.json()["id"]
            while (view := http.get(f"/imports/{job}").json())["status"] != "committed":
                assert view["status"] != "failed", view
                assert time.monotonic() < deadline + 60
                time.sleep(0.05)
            assert view["counts"]["committed"]["created"] == 100
            res = http.post("/imports", files={"file": ("p.csv", text.encode() * 40)},
                            data={"profile": "people", "source": "shop"})
            assert_problem(res, 413, "body_too_large")
    finally:
        server.should_exit = True
        thread.join(timeout=20)
