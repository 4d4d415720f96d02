"""An FTP directory as a watch location (see `allroads.ingest.watch`), with `ftplib`.

    FtpFolder.from_url("ftp://loader:secret@ftp.example.com:2121/exports/crm")

The path is taken from the FTP user's login directory (RFC 1738: `ftp://h/exports` is
`exports` under it; `ftp://h/%2Fsrv/exports` is the absolute `/srv/exports`). Passive mode.
Files are listed with MLSD (name, size, modify time), or NLST with SIZE and MDTM on servers
without it; downloaded to a temporary file; and, once imported, renamed into `processed/` or
`failed/` on the server (created when missing), with the error report uploaded beside them.
An account that may not rename or write leaves the files where they are: the ledger (kept
locally) makes sure they are imported once. A connection that drops (servers close idle ones
during a long import) is opened again.
"""

from __future__ import annotations

import contextlib
import ftplib
import hashlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import unquote, urlsplit

from allroads.domain.errors import AllroadsError, InvalidInput
from allroads.ingest.watch import MARKER, FileInfo, unique_name

T = TypeVar("T")
DEFAULT_PORT = 21
# What a dropped or timed-out connection raises: reconnect and try once more.
_CONNECTION_ERRORS = (OSError, EOFError, ftplib.error_temp, ftplib.error_reply)
URL_HINT = "use ftp://user:password@host:port/path (password: or ALLROADS_FTP_PASSWORD)"


class FtpError(AllroadsError):
    """The FTP server cannot be reached or refuses the login (retried at the next poll)."""


class FtpFolder:
    def __init__(self, host: str, *, port: int = DEFAULT_PORT, user: str = "anonymous",
                 password: str = "", path: str = "", timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.segments = [unquote(s) for s in path.strip("/").split("/") if s]
        self.timeout = timeout
        shown = "/".join(s.replace("/", "%2F") for s in self.segments)
        self.label = f"ftp://{user}@{host}:{port}/{shown}"
        self._conn: ftplib.FTP | None = None

    @classmethod
    def from_url(cls, url: str, *, password: str | None = None, timeout: float = 30.0
                 ) -> FtpFolder:
        """The folder of an ftp:// URL; `password` is used when the URL has none."""
        parts = urlsplit(url.strip())
        if parts.scheme.lower() != "ftp" or not parts.hostname:
            scheme = parts.scheme or "no scheme"
            raise InvalidInput(f"expected an ftp:// URL with a host, got {scheme}: "
                               f"{_without_password(url)!r}", field="ftp", hint=URL_HINT)
        try:
            port = parts.port or DEFAULT_PORT
        except ValueError:
            raise InvalidInput(f"the port of {_without_password(url)!r} is not a number "
                               "from 1 to 65535", field="ftp", hint=URL_HINT) from None
        user = unquote(parts.username) if parts.username else "anonymous"
        secret = unquote(parts.password) if parts.password is not None else (password or "")
        return cls(parts.hostname, port=port, user=user, password=secret,
                   path=parts.path, timeout=timeout)

    # Connection ----------------------------------------------------------------------------
    def _connect(self) -> ftplib.FTP:
        ftp = ftplib.FTP(timeout=self.timeout)
        try:
            ftp.connect(self.host, self.port)
        except OSError as exc:
            raise FtpError(f"cannot reach the FTP server {self.host}:{self.port}: {exc}",
                           hint="check the host and port, and that the server is up") from None
        try:
            ftp.login(self.user, self.password)
            ftp.set_pasv(True)
            for segment in self.segments:
                ftp.cwd(segment)
        except ftplib.error_perm as exc:
            ftp.close()
            where = "/".join(self.segments) or "the login directory"
            raise FtpError(f"the FTP server {self.host}:{self.port} refused user "
                           f"{self.user!r} or the folder {where}: {exc}",
                           hint="check the user, password and path of the ftp:// URL") from None
        return ftp

    @contextlib.contextmanager
    def _session(self) -> Iterator[None]:
        self._conn = self._connect()
        try:
            yield
        finally:
            conn, self._conn = self._conn, None
            if conn is not None:
                with contextlib.suppress(*_CONNECTION_ERRORS, ftplib.Error):
                    conn.quit()
                conn.close()

    def session(self) -> contextlib.AbstractContextManager[None]:
        return self._session()

    def _call(self, fn: Callable[[ftplib.FTP], T]) -> T:
        """`fn(connection)`; when the connection has dropped, once more on a new one."""
        if self._conn is None:
            self._conn = self._connect()
        try:
            return fn(self._conn)
        except _CONNECTION_ERRORS:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._conn = self._connect()
            return fn(self._conn)

    # Location ------------------------------------------------------------------------------
    def list_files(self) -> list[FileInfo]:
        try:
            return self._call(_mlsd)
        except ftplib.error_perm:  # no MLSD: NLST, then SIZE and MDTM per name
            return self._call(_nlst)

    @contextlib.contextmanager
    def fetch(self, name: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="allroads-ftp-") as tmp:
            path = Path(tmp) / "download"

            def download(ftp: ftplib.FTP) -> None:
                with path.open("wb") as out:
                    ftp.retrbinary(f"RETR {name}", out.write)

            self._call(download)
            yield path

    def file_away(self, name: str, folder: str, extras: dict[str, Path]) -> str | None:
        def move(ftp: ftplib.FTP) -> str | None:
            with contextlib.suppress(ftplib.error_perm):  # it exists (or may not be made)
                ftp.mkd(folder)
            try:
                there = {n.rsplit("/", 1)[-1] for n in ftp.nlst(folder)}
            except ftplib.error_perm:  # an empty folder, on some servers
                there = set()
            target = unique_name(name, lambda n: n in there)
            try:
                ftp.rename(name, f"{folder}/{target}")
            except ftplib.error_perm:
                return None
            with contextlib.suppress(ftplib.error_perm):
                ftp.delete(name + MARKER)
            for suffix, source in extras.items():
                with contextlib.suppress(ftplib.error_perm), source.open("rb") as content:
                    ftp.storbinary(f"STOR {folder}/{target}{suffix}", content)
            return f"{folder}/{target}"

        return self._call(move)

    def default_ledger(self, state_dir: Path) -> Path:
        key = hashlib.sha256(self.label.encode()).hexdigest()[:10]
        return state_dir / "watch" / f"ftp-{self.host}-{self.port}-{key}.json"


def _mlsd(ftp: ftplib.FTP) -> list[FileInfo]:
    out: list[FileInfo] = []
    for name, facts in ftp.mlsd(facts=["type", "size", "modify"]):
        if facts.get("type", "file").lower() != "file" or "/" in name:
            continue
        out.append(FileInfo(name, int(facts.get("size") or 0), facts.get("modify", "")))
    return out


def _nlst(ftp: ftplib.FTP) -> list[FileInfo]:
    out: list[FileInfo] = []
    ftp.voidcmd("TYPE I")  # SIZE is in bytes only in binary mode
    for raw in ftp.nlst():
        name = raw.rsplit("/", 1)[-1]
        try:
            size = ftp.size(name)
            modified = ftp.voidcmd(f"MDTM {name}").split()[-1]
        except ftplib.error_perm:  # a folder, or gone
            continue
        out.append(FileInfo(name, int(size or 0), modified))
    return out


def _without_password(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.password is None:
        return url.strip()
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
