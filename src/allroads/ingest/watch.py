"""Watching a drop folder or an FTP location: every new file imported once, with a template.

    location = LocalFolder(Path("/srv/drop"))         # or FtpFolder.from_url("ftp://…/in")
    watcher = Watcher(imports, actor, location, WatchSpec("people", "shop", "daily"),
                      Ledger(location.default_ledger(config.upload_dir)))
    watcher.poll()      # one look: import each file that is ready; returns what happened

**Ready.** A file is taken when it is complete: its size and modification time were the same
at two looks (polls), or a marker file `NAME.done` stands beside it (then at once). Hidden
files (`.x`), temporary ones (`*.part`, `*.tmp`, `*.filepart`, `*~`) and names that match
none of the patterns (`*.csv`, `*.tsv`, `*.txt`, `*.xlsx`, `*.xls`, and their `.gz`) are
left alone.

**Once.** The ledger (a JSON file, `.allroads/ledger.json` in a local folder) remembers each
file taken: name, size, modification time, SHA-256, the import's id and what became of it.
A file seen before (same name, size and time) is not taken again, nor one with the same
content as a file already committed (it is filed as a duplicate). A newer export under the
same name is new content, so it is imported. The ledger entry is written before the import
starts: a watcher killed in the middle resumes that import on its next poll (`Imports.resume`)
instead of starting another. One watcher at a time polls a location (a lock beside the
ledger).

**Afterwards.** The file goes to `processed/` (committed, or a duplicate) or `failed/` (the
file could not be read, had no column for a mandatory field, or the import failed), with
`NAME.errors.csv` (the error report, when a row had an error or a warning) and
`NAME.error.txt` (why the import failed) beside it. Where the file cannot be moved (a
read-only FTP account) it stays, and the ledger keeps it from being taken again.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fnmatch
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from allroads.domain.errors import Conflict, InvalidInput
from allroads.domain.types import Actor
from allroads.ingest.service import Imports
from allroads.ingest.validate import ProgressFn

MARKER = ".done"
PROCESSED = "processed"
FAILED = "failed"
PATTERNS: tuple[str, ...] = ("*.csv", "*.tsv", "*.txt", "*.xlsx", "*.xls", "*.csv.gz",
                             "*.tsv.gz", "*.txt.gz")
TEMPORARY: tuple[str, ...] = (".part", ".tmp", ".filepart", ".crdownload", ".partial", "~")
LEDGER_VERSION = 1


@dataclass(frozen=True)
class FileInfo:
    """A file as a location lists it; `mtime` is compared for equality only."""

    name: str
    size: int
    mtime: str


class Location(Protocol):
    """Where files are dropped: a local folder or an FTP directory."""

    label: str  # shown in messages and kept in the ledger; never holds a password

    def session(self) -> contextlib.AbstractContextManager[None]:
        """Open what a poll needs (an FTP connection) for the duration of one poll."""

    def list_files(self) -> list[FileInfo]:
        """The plain files directly in the location (not in its subfolders)."""

    def fetch(self, name: str) -> contextlib.AbstractContextManager[Path]:
        """A local path holding the file's bytes, for as long as the context lasts."""

    def file_away(self, name: str, folder: str, extras: dict[str, Path]) -> str | None:
        """Move the file into `folder` (processed or failed; under another name if the
        folder has one like it), remove its marker, and copy `extras` beside it (name
        suffix -> local file: `.errors.csv` gives `NAME.errors.csv`). Returns where it
        went, or None where it cannot be moved (it is then left as it is)."""

    def default_ledger(self, state_dir: Path) -> Path:
        """Where this location's ledger lives unless one is named."""


@dataclass(frozen=True)
class WatchSpec:
    """What files of a location are: their profile, source system and template."""

    profile: str
    source: str
    template: str | None
    patterns: tuple[str, ...] = PATTERNS


@dataclass
class WatchEvent:
    """Something the watcher did with one file."""

    kind: str  # waiting | importing | committed | failed | duplicate | resumed
    name: str
    import_id: str | None = None
    detail: str | None = None
    view: dict[str, Any] | None = None
    moved_to: str | None = None


EventFn = Callable[[WatchEvent], None]


class Ledger:
    """The files a location has had taken, as JSON: `{"version", "files", "pending"}`.

    `files` holds one entry per file taken (newest last); `pending` the size and time each
    new file had at the last look, so that a file is known to be stable at the next one
    (which may be the next run of `allroads watch --once`, from cron)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.files: list[dict[str, Any]] = []
        self.pending: dict[str, list[Any]] = {}
        self._lock: IO[str] | None = None

    def load(self) -> None:
        if not self.path.exists():
            self.files, self.pending = [], {}
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"the watch ledger {self.path} cannot be read: {exc}",
                               field="ledger", hint="fix or remove the file (removing it "
                               "makes files still in the folder be imported again)") from None
        if not isinstance(data, dict) or not isinstance(data.get("files"), list):
            raise InvalidInput(f"the watch ledger {self.path} is not a ledger "
                               "(expected {\"version\": 1, \"files\": [...]})",
                               field="ledger", hint="remove it, or name another with --ledger")
        self.files = [f for f in data["files"] if isinstance(f, dict)]
        pending = data.get("pending")
        self.pending = dict(pending) if isinstance(pending, dict) else {}

    def save(self) -> None:
        """Write the ledger atomically (a crash leaves the old one or the new one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"version": LEDGER_VERSION, "files": self.files, "pending": self.pending}
        fd, tmp = tempfile.mkstemp(prefix=".ledger-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=1, ensure_ascii=False)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the location for one poll; another watcher on it is a Conflict."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        handle = lock_path.open("a+", encoding="utf-8")
        try:
            try:
                import fcntl
            except ImportError:  # pragma: no cover - Windows: no advisory lock
                fcntl = None  # type: ignore[assignment]
            if fcntl is not None:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    raise Conflict(f"another watcher is polling this location (lock "
                                   f"{lock_path})", hint="run one `allroads watch` per "
                                   "folder or FTP location") from None
            self.load()
            yield
        finally:
            handle.close()

    def _last(self, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        return next((e for e in reversed(self.files) if match(e)), None)

    def seen(self, info: FileInfo) -> dict[str, Any] | None:
        """The entry of a file with this name, size and time, if one was taken."""
        return self._last(lambda e: (e.get("name"), e.get("size"), e.get("mtime")) == (
            info.name, info.size, info.mtime))

    def committed_with(self, sha256: str) -> dict[str, Any] | None:
        """The entry of a committed file with this content, if any."""
        return self._last(lambda e: e.get("sha256") == sha256 and e.get("status") == "committed")

    def unfinished(self) -> list[dict[str, Any]]:
        return [e for e in self.files if e.get("status") == "importing"]

    def add(self, entry: dict[str, Any]) -> dict[str, Any]:
        self.files.append(entry)
        self.save()
        return entry


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def is_candidate(name: str, patterns: Sequence[str]) -> bool:
    """A file to import: not hidden, not a marker or temporary file, matching a pattern."""
    lower = name.lower()
    if name.startswith(".") or lower.endswith(MARKER) or lower.endswith(TEMPORARY):
        return False
    return any(fnmatch.fnmatch(lower, p.lower()) for p in patterns)


def unique_name(name: str, taken: Callable[[str], bool]) -> str:
    """`name`, or `customers-2.csv`, `customers-3.csv`, ... when `taken(name)`."""
    if not taken(name):
        return name
    suffixes = Path(name).suffixes[-2:] if name.lower().endswith(".gz") else \
        Path(name).suffixes[-1:]
    ext = "".join(suffixes)
    stem = name[:len(name) - len(ext)] if ext else name
    n = 2
    while taken(f"{stem}-{n}{ext}"):
        n += 1
    return f"{stem}-{n}{ext}"


class Watcher:
    """Polls one location for one tenant; see the module docstring."""

    def __init__(self, imports: Imports, actor: Actor, location: Location, spec: WatchSpec,
                 ledger: Ledger, *, on_event: EventFn | None = None,
                 progress: ProgressFn | None = None) -> None:
        self.imports = imports
        self.actor = actor
        self.location = location
        self.spec = spec
        self.ledger = ledger
        self.on_event = on_event
        self.progress = progress
        if spec.template is not None:
            imports.template(actor, spec.profile, spec.template)  # NotFound: say so now
        else:
            imports.profile(spec.profile)

    def poll(self) -> list[WatchEvent]:
        """Look once: finish what a crash interrupted, then import every ready file."""
        events: list[WatchEvent] = []
        with self.ledger.locked(), self.location.session():
            files = self.location.list_files()
            present = {f.name: f for f in files}
            for entry in self.ledger.unfinished():
                events.append(self._recover(entry, present))
            names = set(present)
            pending: dict[str, list[Any]] = {}
            for info in sorted(files, key=lambda f: (f.mtime, f.name)):
                if not is_candidate(info.name, self.spec.patterns):
                    continue
                if self.ledger.seen(info) is not None:
                    continue
                marked = info.name + MARKER in names
                before = self.ledger.pending.get(info.name)
                if not marked and before != [info.size, info.mtime]:
                    pending[info.name] = [info.size, info.mtime]
                    events.append(self._emit(WatchEvent(
                        "waiting", info.name, detail="new or still changing; taken when "
                        f"unchanged at the next look (or when {info.name}{MARKER} appears)")))
                    continue
                events.append(self._take(info))
            self.ledger.pending = pending
            self.ledger.save()
        return events

    def waiting(self) -> list[str]:
        return sorted(self.ledger.pending)

    def _emit(self, event: WatchEvent) -> WatchEvent:
        if self.on_event is not None:
            self.on_event(event)
        return event

    def _take(self, info: FileInfo) -> WatchEvent:
        with self.location.fetch(info.name) as path:
            digest = sha256_of(path)
            entry: dict[str, Any] = {
                "name": info.name, "size": info.size, "mtime": info.mtime, "sha256": digest,
                "location": self.location.label, "profile": self.spec.profile,
                "source": self.spec.source, "template": self.spec.template,
                "status": "importing", "import_id": None, "taken_at": _now()}
            same = self.ledger.committed_with(digest)
            if same is not None:
                entry.update(status="duplicate", import_id=same.get("import_id"),
                             finished_at=_now())
                moved = self.location.file_away(info.name, PROCESSED, {})
                entry["moved_to"] = moved
                self.ledger.add(entry)
                return self._emit(WatchEvent(
                    "duplicate", info.name, same.get("import_id"),
                    f"same content as {same.get('name')} ({same.get('import_id')}), already "
                    "imported", moved_to=moved))
            self.ledger.add(entry)
            try:
                job = self.imports.submit(
                    self.actor, path, filename=info.name, profile=self.spec.profile,
                    source=self.spec.source, template=self.spec.template, auto_commit=True)
            except InvalidInput as exc:
                return self._finish(entry, None, _message(exc))
            except BaseException:
                self.ledger.files.remove(entry)  # nothing started: take it again next time
                self.ledger.save()
                raise
        entry["import_id"] = job["id"]
        self.ledger.save()
        self._emit(WatchEvent("importing", info.name, job["id"]))
        view = self.imports.process(self.actor, job["id"], progress=self.progress)
        return self._finish(entry, view, None)

    def _recover(self, entry: dict[str, Any], present: dict[str, FileInfo]) -> WatchEvent:
        """An import a crash interrupted: carry it on (or forget it, if it never started)."""
        name = str(entry.get("name"))
        import_id = entry.get("import_id")
        if not import_id:
            self.ledger.files.remove(entry)
            self.ledger.save()
            return self._emit(WatchEvent("waiting", name, detail="interrupted before the "
                                         "import started; taken again"))
        view = self.imports.get(self.actor, str(import_id))
        if view["status"] in ("uploaded", "validating", "committing"):
            self._emit(WatchEvent("resumed", name, str(import_id)))
            view = self.imports.resume(self.actor, str(import_id), progress=self.progress)
        elif view["status"] == "validated":
            view = self.imports.commit(self.actor, str(import_id), progress=self.progress)
        if name not in present:
            entry.update(status=view["status"], finished_at=_now(), moved_to=None)
            self.ledger.save()
            return self._emit(WatchEvent(view["status"], name, str(import_id),
                                         "the file is no longer in the location", view))
        return self._finish(entry, view, None)

    def _finish(self, entry: dict[str, Any], view: dict[str, Any] | None,
                error: str | None) -> WatchEvent:
        name = str(entry["name"])
        if view is not None and view["status"] != "committed":
            error = view.get("error") or f"the import ended {view['status']}"
        folder = FAILED if error is not None else PROCESSED
        with tempfile.TemporaryDirectory(prefix="allroads-watch-") as tmp:
            extras: dict[str, Path] = {}
            if view is not None:
                report = Path(tmp) / "errors.csv"
                with report.open("w", encoding="utf-8", newline="") as out:
                    written = self.imports.error_report(self.actor, view["id"], out)
                if written:
                    extras[".errors.csv"] = report
            if error is not None:
                extras[".error.txt"] = Path(tmp) / "error.txt"
                extras[".error.txt"].write_text(error + "\n", encoding="utf-8")
            moved = self.location.file_away(name, folder, extras)
        entry.update(status="failed" if error is not None else "committed",
                     error=error, finished_at=_now(), moved_to=moved,
                     counts=(view or {}).get("counts"))
        self.ledger.save()
        return self._emit(WatchEvent("failed" if error is not None else "committed", name,
                                     entry.get("import_id"), error, view, moved))


def _message(exc: InvalidInput) -> str:
    return exc.message + (f" ({exc.hint})" if exc.hint else "")


@dataclass
class Poller:
    """Runs a watcher: every `interval` seconds, or once (see `run`)."""

    watcher: Watcher
    interval: float = 30.0
    on_error: Callable[[Exception], None] | None = None
    sleep: Callable[[float], None] = time.sleep

    def run_once(self) -> list[WatchEvent]:
        """Poll; when new files are waiting to be seen unchanged, wait one interval and poll
        again, so that one run takes the files that were there when it started."""
        events = self.watcher.poll()
        if any(e.kind == "waiting" for e in events):
            self.sleep(self.interval)
            events += self.watcher.poll()
        return events

    def run_forever(self, should_stop: Callable[[], bool] = lambda: False) -> None:
        """Poll every interval until `should_stop()`; an error is reported (on_error) and
        the next poll tries again (a database or FTP server may come back)."""
        while not should_stop():
            try:
                self.watcher.poll()
            except Exception as exc:
                if self.on_error is None:
                    raise
                self.on_error(exc)
            if should_stop():
                break
            self.sleep(self.interval)
