"""Drop folders and FTP locations (`allroads.ingest.watch`, `allroads watch`): each new file
imported once with a template, only when complete, then filed; on both databases, against
real folders and a real FTP server (pyftpdlib, in a thread), and a watcher killed mid-import.
"""

from __future__ import annotations

import ftplib
import io
import json
import logging
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
from typer.testing import CliRunner

from allroads.cli.main import app
from allroads.domain.errors import Conflict, InvalidInput
from allroads.domain.types import Actor
from allroads.ingest.dropfolder import LocalFolder
from allroads.ingest.ftp import FtpError, FtpFolder
from allroads.ingest.service import ImportConfig, Imports
from allroads.ingest.watch import Ledger, Poller, Watcher, WatchSpec, is_candidate, unique_name
from allroads.store import Store
from import_helpers import kill_mid_commit, store_counts, write_people
from test_cli import process_env, run_cli

runner = CliRunner()
SPEC = WatchSpec("people", "shop", "daily")


@pytest.fixture
def imports(store: Store, actor: Actor, tmp_path: Path) -> Imports:
    service = Imports(store, ImportConfig(upload_dir=tmp_path / "uploads"))
    service.save_template(actor, "people", "daily", {"match_on": "email",
                                                     "mapping": {"Notes": ""}})
    return service


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


def watcher(imports: Imports, actor: Actor, folder: Path) -> Watcher:
    location = LocalFolder(folder)
    return Watcher(imports, actor, location, SPEC, Ledger(location.default_ledger(folder)))


def kinds(events: list) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return [(e.kind, e.name) for e in events]


def job_count(store: Store, actor: Actor) -> int:
    with store.read() as tx:
        return len(tx.list_imports(actor.tenant_id, before_id=None, limit=100))


# Without a database --------------------------------------------------------------------
def test_candidates_names_and_urls(tmp_path: Path) -> None:
    patterns = ("*.csv", "*.csv.gz", "*.xlsx")
    assert [n for n in ("a.csv", "B.CSV", "a.csv.gz", "a.xlsx", ".a.csv", "a.csv.part",
                        "a.csv.done", "a.csv~", "a.pdf", "a.csv.tmp")
            if is_candidate(n, patterns)] == ["a.csv", "B.CSV", "a.csv.gz", "a.xlsx"]
    taken = {"a.csv", "a-2.csv", "b.csv.gz"}
    assert unique_name("c.csv", taken.__contains__) == "c.csv"
    assert unique_name("a.csv", taken.__contains__) == "a-3.csv"
    assert unique_name("b.csv.gz", taken.__contains__) == "b-2.csv.gz"

    ftp = FtpFolder.from_url("ftp://lo%40der:p%2Fss@example.com:2121/in/%2Fcrm")
    assert (ftp.user, ftp.password, ftp.port, ftp.segments) == ("lo@der", "p/ss", 2121,
                                                                 ["in", "/crm"])
    assert "p/ss" not in ftp.label and "p%2Fss" not in ftp.label
    assert FtpFolder.from_url("ftp://u@h/x", password="env").password == "env"
    assert FtpFolder.from_url("ftp://h").user == "anonymous"
    for bad in ("sftp://u:secret@h/x", "ftp:///x", "ftp://h:99999/x", "/srv/drop"):
        with pytest.raises(InvalidInput) as info:
            FtpFolder.from_url(bad)
        assert "secret" not in str(info.value)
    with pytest.raises(InvalidInput, match="does not exist"):
        LocalFolder(tmp_path / "nope")

    ledger = Ledger(tmp_path / "state" / "ledger.json")
    ledger.load()
    ledger.add({"name": "a.csv", "size": 3, "mtime": "1", "sha256": "x", "status": "committed"})
    again = Ledger(ledger.path)
    again.load()
    assert again.files == ledger.files and [p.name for p in ledger.path.parent.iterdir()] == [
        "ledger.json"]
    ledger.path.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidInput, match="cannot be read"):
        again.load()


# A local folder ------------------------------------------------------------------------
def test_each_dropped_file_is_imported_once_and_filed(store: Store, actor: Actor,
                                                      imports: Imports, drop: Path) -> None:
    w = watcher(imports, actor, drop)
    first = write_people(drop / "a.csv", 60)
    for name in (".hidden.csv", "a.csv.part", "notes.pdf"):
        (drop / name).write_text("First Name\nJo\n", encoding="utf-8")
    assert kinds(w.poll()) == [("waiting", "a.csv")]
    assert job_count(store, actor) == 0
    events = w.poll()
    assert kinds(events) == [("committed", "a.csv")]
    assert events[0].moved_to == "processed/a.csv"
    assert (drop / "processed" / "a.csv").exists() and not (drop / "a.csv").exists()
    report = (drop / "processed" / "a.csv.errors.csv").read_text(encoding="utf-8-sig")
    assert "INVALID_EMAIL" in report and "DUPLICATE_MOBILE_IN_FILE" in report
    assert store_counts(store, actor.tenant_id)["people"] == first.valid
    assert w.poll() == [] and job_count(store, actor) == 1
    for name in (".hidden.csv", "a.csv.part", "notes.pdf"):
        assert (drop / name).exists()
    ledger = json.loads((drop / ".allroads" / "ledger.json").read_text(encoding="utf-8"))
    [entry] = ledger["files"]
    assert entry["status"] == "committed" and entry["import_id"].startswith("imp_")
    assert entry["counts"]["committed"]["created"] == first.valid

    # The same content under another name, with a marker: taken at once, a duplicate.
    shutil.copy(drop / "processed" / "a.csv", drop / "b.csv")
    (drop / "b.csv.done").touch()
    events = w.poll()
    assert kinds(events) == [("duplicate", "b.csv")]
    assert events[0].import_id == entry["import_id"]
    assert (drop / "processed" / "b.csv").exists() and not (drop / "b.csv.done").exists()
    assert job_count(store, actor) == 1

    # A newer export under the same name is new content: imported, filed beside the first.
    newer = write_people(drop / "a.csv", 10, start=60)
    (drop / "a.csv.done").touch()
    events = w.poll()
    assert kinds(events) == [("committed", "a.csv")]
    assert events[0].moved_to == "processed/a-2.csv"
    assert store_counts(store, actor.tenant_id)["people"] == first.valid + newer.valid

    # Files that cannot be imported go to failed/, with the reason.
    (drop / "names.csv").write_text("First Name,Last Name\nJo,Lee\n", encoding="utf-8")
    (drop / "junk.xlsx").write_bytes(b"\x00\x01 not a workbook" * 10)
    for name in ("names.csv", "junk.xlsx"):
        (drop / f"{name}.done").touch()
    events = w.poll()
    assert sorted(kinds(events)) == [("failed", "junk.xlsx"), ("failed", "names.csv")]
    assert "mandatory" in (drop / "failed" / "names.csv.error.txt").read_text(encoding="utf-8")
    assert (drop / "failed" / "junk.xlsx.error.txt").read_text(encoding="utf-8").strip()
    assert w.poll() == [] and job_count(store, actor) == 3  # junk.xlsx was never a job


def test_a_file_still_being_written_is_not_taken(store: Store, actor: Actor,
                                                 imports: Imports, drop: Path,
                                                 tmp_path: Path) -> None:
    full = write_people(tmp_path / "full.csv", 80)
    data = full.path.read_bytes()
    w = watcher(imports, actor, drop)
    with (drop / "slow.csv").open("wb") as out:
        out.write(data[: len(data) // 2])
        out.flush()
        assert kinds(w.poll()) == [("waiting", "slow.csv")]
        out.write(data[len(data) // 2:])
        out.flush()
        assert kinds(w.poll()) == [("waiting", "slow.csv")]  # it grew: not stable yet
    events = w.poll()
    assert kinds(events) == [("committed", "slow.csv")]
    assert events[0].view is not None and events[0].view["counts"]["rows"] == full.rows
    assert store_counts(store, actor.tenant_id)["people"] == full.valid


def test_one_watcher_at_a_time(imports: Imports, actor: Actor, drop: Path) -> None:
    w = watcher(imports, actor, drop)
    with Ledger(drop / ".allroads" / "ledger.json").locked(), \
            pytest.raises(Conflict, match="another watcher"):
        w.poll()
    assert w.poll() == []


def test_watch_command_once(store: Store, actor: Actor, imports: Imports, drop: Path,
                            tmp_path: Path) -> None:
    del imports  # saves the template
    people = write_people(drop / "a.csv", 30)
    env = {"ALLROADS_DATABASE_URL": store.url, "ALLROADS_TENANT": "acme",
           "ALLROADS_IMPORT_DIR": str(tmp_path / "uploads")}
    args = ["watch", "--folder", str(drop), "-p", "people", "-s", "shop", "--template", "daily",
            "--once", "--interval", "0.05"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert "a.csv: waiting" in result.stdout and "a.csv: committed" in result.stdout
    assert "→ processed/a.csv" in result.stdout
    assert store_counts(store, actor.tenant_id)["people"] == people.valid
    (drop / "b.csv").write_text("First Name\nJo\n", encoding="utf-8")
    (drop / "b.csv.done").touch()
    failed = runner.invoke(app, [*args, "--json"], env=env)
    assert failed.exit_code == 1, failed.output
    lines = [json.loads(x) for x in failed.stdout.splitlines()]
    assert [x["event"] for x in lines] == ["importing", "failed"]
    line = lines[-1]
    assert line["event"] == "failed" and line["file"] == "b.csv" and "mandatory" in line["detail"]

    neither = runner.invoke(app, [a for a in args if a not in ("--folder", str(drop))],
                            env=env)
    both = runner.invoke(app, [*args, "--ftp", "ftp://h/x"], env=env)
    for bad in (neither, both):
        assert bad.exit_code == 2 and "--folder PATH or --ftp URL" in bad.stderr, bad.output
    missing = runner.invoke(app, [a if a != "daily" else "weekly" for a in args], env=env)
    assert missing.exit_code == 1 and "no template 'weekly'" in missing.stderr


def test_a_watcher_killed_mid_import_resumes_it(store: Store, actor: Actor, imports: Imports,
                                               drop: Path, tmp_path: Path) -> None:
    del imports
    people = write_people(drop / "big.csv", 800)
    (drop / "big.csv.done").touch()
    env = {"ALLROADS_DATABASE_URL": store.url, "ALLROADS_TENANT": "acme",
           "ALLROADS_IMPORT_DIR": str(tmp_path / "uploads"), "ALLROADS_IMPORT_BATCH_ROWS": "40"}
    args = ["watch", "--folder", str(drop), "-p", "people", "-s", "shop", "--template", "daily",
            "--once", "--interval", "0"]
    kill_mid_commit(args, process_env(**env), tmp_path, store, actor.tenant_id, people.valid,
                    timeout=180)
    assert (drop / "big.csv").exists()
    again = run_cli(*args, cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert "big.csv: resumed" in again.stdout and "big.csv: committed" in again.stdout
    assert job_count(store, actor) == 1
    counts = store_counts(store, actor.tenant_id)
    assert counts["people"] == counts["records"] == counts["versions"] == people.valid
    assert (drop / "processed" / "big.csv").exists()


# FTP ------------------------------------------------------------------------------------
@pytest.fixture
def ftp_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A real FTP server on a free port: user loader (may do anything) with home ROOT/, user
    reader (may only list and download) with home ROOT/readonly."""
    root = tmp_path / "ftp"
    (root / "drop").mkdir(parents=True)
    (root / "readonly").mkdir()
    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    authorizer = DummyAuthorizer()
    authorizer.add_user("loader", "s3cret", str(root), perm="elradfmwMT")
    authorizer.add_user("reader", "pw", str(root / "readonly"), perm="elr")
    handler = type("Handler", (FTPHandler,), {"authorizer": authorizer,
                                              "auth_failed_timeout": 0})
    server = FTPServer(("127.0.0.1", 0), handler)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)
        server.close_all()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.socket.getsockname()[1], root
    finally:
        stop.set()
        thread.join(timeout=10)


def upload(port: int, path: str, data: bytes, user: str = "loader", pw: str = "s3cret") -> None:
    with ftplib.FTP() as ftp:
        ftp.connect("127.0.0.1", port, timeout=10)
        ftp.login(user, pw)
        ftp.storbinary(f"STOR {path}", io.BytesIO(data))


def test_ftp_location(store: Store, actor: Actor, imports: Imports, tmp_path: Path,
                      ftp_server: tuple[int, Path]) -> None:
    port, root = ftp_server
    people = write_people(tmp_path / "people.csv", 40)
    upload(port, "drop/people.csv", people.path.read_bytes())
    location = FtpFolder.from_url(f"ftp://loader:s3cret@127.0.0.1:{port}/drop")
    w = Watcher(imports, actor, location, SPEC,
                Ledger(location.default_ledger(tmp_path / "state")))
    assert kinds(w.poll()) == [("waiting", "people.csv")]
    events = w.poll()
    assert kinds(events) == [("committed", "people.csv")], events
    assert events[0].moved_to == "processed/people.csv"
    assert (root / "drop" / "processed" / "people.csv").read_bytes() == \
        people.path.read_bytes()
    assert "INVALID_EMAIL" in (root / "drop" / "processed" / "people.csv.errors.csv"
                               ).read_text(encoding="utf-8-sig")
    assert store_counts(store, actor.tenant_id)["people"] == people.valid
    assert w.poll() == []

    # A marker makes a file ready at once; a failed file goes to failed/ on the server.
    upload(port, "drop/names.csv", b"First Name\nJo\n")
    upload(port, "drop/names.csv.done", b"")
    assert kinds(w.poll()) == [("failed", "names.csv")]
    assert (root / "drop" / "failed" / "names.csv.error.txt").exists()
    assert not (root / "drop" / "names.csv.done").exists()

    # An account that may not rename: the file stays, and the ledger keeps it imported once.
    more = write_people(tmp_path / "more.csv", 10, start=100)
    shutil.copy(more.path, root / "readonly" / "more.csv")
    reader = FtpFolder.from_url(f"ftp://reader@127.0.0.1:{port}/", password="pw")
    r = Watcher(imports, actor, reader, SPEC, Ledger(reader.default_ledger(tmp_path / "state")))
    assert r.poll()[0].kind == "waiting"
    events = r.poll()
    assert kinds(events) == [("committed", "more.csv")] and events[0].moved_to is None
    assert (root / "readonly" / "more.csv").exists()
    jobs = job_count(store, actor)
    assert r.poll() == [] and r.poll() == [] and job_count(store, actor) == jobs
    assert store_counts(store, actor.tenant_id)["people"] == people.valid + more.valid

    wrong = FtpFolder.from_url(f"ftp://loader:nope@127.0.0.1:{port}/drop")
    bad = Watcher(imports, actor, wrong, SPEC, Ledger(tmp_path / "wrong.json"))
    with pytest.raises(FtpError, match="refused user 'loader'"):
        bad.poll()
    down = FtpFolder.from_url("ftp://u:p@127.0.0.1:1/x", timeout=2)
    with pytest.raises(FtpError, match="cannot reach"):
        Watcher(imports, actor, down, SPEC, Ledger(tmp_path / "down.json")).poll()


def test_watch_command_over_ftp(store: Store, actor: Actor, imports: Imports, tmp_path: Path,
                                ftp_server: tuple[int, Path]) -> None:
    del imports
    port, root = ftp_server
    people = write_people(tmp_path / "people.csv", 20)
    upload(port, "drop/people.csv", people.path.read_bytes())
    env = {"ALLROADS_DATABASE_URL": store.url, "ALLROADS_TENANT": "acme",
           "ALLROADS_IMPORT_DIR": str(tmp_path / "uploads"), "ALLROADS_FTP_PASSWORD": "s3cret"}
    result = runner.invoke(app, ["watch", "--ftp", f"ftp://loader@127.0.0.1:{port}/drop",
                                 "-p", "people", "-s", "shop", "--template", "daily", "--once",
                                 "--interval", "1.1"], env=env)
    assert result.exit_code == 0, result.output
    assert "people.csv: committed" in result.stdout and "s3cret" not in result.output
    assert (root / "drop" / "processed" / "people.csv").exists()
    assert store_counts(store, actor.tenant_id)["people"] == people.valid
    assert list((tmp_path / "uploads" / "watch").glob("ftp-127.0.0.1-*.json"))
    wrong = runner.invoke(app, ["watch", "--ftp", f"ftp://loader:x@127.0.0.1:{port}/drop",
                                "-p", "people", "-s", "shop", "--template", "daily", "--once"],
                          env=env)
    assert wrong.exit_code == 1 and "refused user 'loader'" in wrong.stderr


def test_poller_keeps_going_after_an_error(imports: Imports, actor: Actor,
                                           tmp_path: Path) -> None:
    down = FtpFolder.from_url("ftp://u:p@127.0.0.1:1/x", timeout=2)
    w = Watcher(imports, actor, down, SPEC, Ledger(tmp_path / "l.json"))
    errors: list[Exception] = []
    looks = iter(range(3))
    Poller(w, 0, on_error=errors.append, sleep=lambda s: None).run_forever(
        lambda: next(looks, None) is None)
    assert len(errors) >= 2 and all(isinstance(e, FtpError) for e in errors)
