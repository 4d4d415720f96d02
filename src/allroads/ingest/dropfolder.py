"""A local drop folder as a watch location (see `allroads.ingest.watch`).

    /srv/drop/                   files are dropped here (written in place, or with NAME.done)
    /srv/drop/processed/         committed files, with NAME.errors.csv when rows were rejected
    /srv/drop/failed/            files that could not be imported, with NAME.error.txt
    /srv/drop/.allroads/         the ledger (ledger.json) and its lock
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from allroads.domain.errors import InvalidInput
from allroads.ingest.watch import MARKER, FileInfo, unique_name

STATE_DIR = ".allroads"


class LocalFolder:
    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise InvalidInput(f"the drop folder {root} does not exist or is not a folder",
                               field="folder", hint="create it, or check the path")
        self.root = root.resolve()
        self.label = str(self.root)

    def session(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def list_files(self) -> list[FileInfo]:
        out: list[FileInfo] = []
        with os.scandir(self.root) as entries:
            for entry in entries:
                try:
                    if not entry.is_file():
                        continue
                    stat = entry.stat()
                except FileNotFoundError:  # removed while we looked
                    continue
                out.append(FileInfo(entry.name, stat.st_size, str(stat.st_mtime_ns)))
        return out

    @contextlib.contextmanager
    def fetch(self, name: str) -> Iterator[Path]:
        yield self.root / name

    def file_away(self, name: str, folder: str, extras: dict[str, Path]) -> str | None:
        target_dir = self.root / folder
        target_dir.mkdir(exist_ok=True)
        target = target_dir / unique_name(name, lambda n: (target_dir / n).exists())
        try:
            os.replace(self.root / name, target)
        except OSError:
            return None
        (self.root / (name + MARKER)).unlink(missing_ok=True)
        for suffix, source in extras.items():
            shutil.copyfile(source, target_dir / (target.name + suffix))
        return str(target.relative_to(self.root))

    def default_ledger(self, state_dir: Path) -> Path:
        del state_dir  # the ledger travels with the folder
        return self.root / STATE_DIR / "ledger.json"
