"""Receiving a multipart/form-data upload as a stream: the file part goes straight to a file
on disk (hashed on the way), never whole into memory; the other parts are small text fields.

    upload = await receive_upload(request, folder, max_bytes=settings.import_max_bytes,
                                  fields=("profile", "source", ...))
    upload.path, upload.filename, upload.sha256, upload.size, upload.fields

Errors are problem responses: a body that is not multipart, a missing or second file, an
unknown field or one too long (422), a file over `max_bytes` (413, as soon as the streamed
bytes pass it). The caller removes `upload.path` when done (`Upload.discard`).
"""

from __future__ import annotations

import difflib
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import anyio
import python_multipart
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from allroads.api.errors import ApiError

FILE_FIELD = "file"
MAX_FIELD_BYTES = 64 * 1024
FLUSH_BYTES = 1 << 20  # file data is written to disk (in a worker thread) a megabyte at a time


@dataclass
class Upload:
    path: Path
    filename: str
    sha256: str
    size: int
    fields: dict[str, str] = field(default_factory=dict)

    def body_hash(self) -> str:
        """A hash of the whole request: the file's bytes and name and every field."""
        canonical = json.dumps({"file": self.sha256, "filename": self.filename,
                                "fields": self.fields}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def _invalid(detail: str, *, field: str = "body", hint: str) -> ApiError:
    return ApiError(422, "invalid_input", detail, field=field, hint=hint)


class _Receiver:
    """The python-multipart callbacks: collect fields, spool the file part to disk."""

    def __init__(self, path: Path, max_bytes: int, fields: tuple[str, ...]) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.known = fields
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.size = 0
        self.digest = hashlib.sha256()
        self.buffer = bytearray()
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._name: str | None = None
        self._is_file = False
        self._data = bytearray()

    # python-multipart callbacks (synchronous, on the event loop: no I/O here)
    def on_part_begin(self) -> None:
        self._disposition, self._name, self._is_file = b"", None, False
        self._data = bytearray()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        raw_name = options.get(b"name")
        if raw_name is None:
            raise _invalid("a multipart part has no name in its Content-Disposition header",
                           hint="send each form field as name=value (curl -F name=value)")
        name = raw_name.decode("utf-8", "replace")
        self._name = name
        self._is_file = b"filename" in options
        if self._is_file:
            if name != FILE_FIELD:
                raise _invalid(f"the file was sent as the field {name!r}; it must be "
                               f"{FILE_FIELD!r}", field=name,
                               hint=f"curl -F {FILE_FIELD}=@customers.csv")
            if self.filename is not None:
                raise _invalid("more than one file was sent; an import takes one file",
                               field=FILE_FIELD, hint="send one file per import")
            self.filename = options[b"filename"].decode("utf-8", "replace") or "upload"
        elif name == FILE_FIELD:
            raise _invalid(f"the field {FILE_FIELD!r} must be a file, not text",
                           field=FILE_FIELD, hint=f"curl -F {FILE_FIELD}=@customers.csv "
                           "(with @ before the path)")
        elif name not in self.known:
            near = difflib.get_close_matches(name, self.known, n=1)
            raise _invalid(f"unknown form field {name!r}", field=name,
                           hint=f"did you mean {near[0]!r}?" if near else
                           "the fields are: " + ", ".join((FILE_FIELD, *self.known)))
        elif name in self.fields:
            raise _invalid(f"the form field {name!r} was sent twice", field=name,
                           hint="send each field once")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if not self._is_file:
            if len(self._data) + len(chunk) > MAX_FIELD_BYTES:
                raise _invalid(f"the form field {self._name!r} is longer than "
                               f"{MAX_FIELD_BYTES // 1024} KB", field=self._name or "body",
                               hint="form fields hold short values; the data goes in the file")
            self._data.extend(chunk)
            return
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise ApiError(413, "body_too_large", f"the file is larger than the import limit "
                           f"of {self.max_bytes} bytes ({_mb(self.max_bytes)})",
                           field=FILE_FIELD, hint="split it, compress it with gzip, or ask "
                           "the operator to raise ALLROADS_IMPORT_MAX_BYTES",
                           headers={"Connection": "close"})
        self.digest.update(chunk)
        self.buffer.extend(chunk)

    def on_part_end(self) -> None:
        if not self._is_file and self._name is not None:
            self.fields[self._name] = self._data.decode("utf-8", "replace")


async def receive_upload(request: Request, folder: Path, *, max_bytes: int,
                         fields: tuple[str, ...]) -> Upload:
    """Stream the request's multipart body: the `file` part to a new file in `folder`,
    the parts named in `fields` as text."""
    content_type = request.headers.get("content-type", "")
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise _invalid(f"the body must be multipart/form-data, got "
                       f"{content_type.split(';')[0] or 'no Content-Type'}",
                       hint="curl -F file=@customers.csv -F profile=people -F source=crm ...")
    await anyio.to_thread.run_sync(lambda: folder.mkdir(parents=True, exist_ok=True))
    path = folder / f"upload-{uuid.uuid4().hex}.part"
    receiver = _Receiver(path, max_bytes, fields)
    parser = python_multipart.MultipartParser(params[b"boundary"], {
        "on_part_begin": receiver.on_part_begin, "on_part_data": receiver.on_part_data,
        "on_part_end": receiver.on_part_end, "on_header_field": receiver.on_header_field,
        "on_header_value": receiver.on_header_value, "on_header_end": receiver.on_header_end,
        "on_headers_finished": receiver.on_headers_finished})
    out = await anyio.to_thread.run_sync(path.open, "wb")
    try:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
                if len(receiver.buffer) >= FLUSH_BYTES:
                    await _flush(receiver, out)
            parser.finalize()
        except FormParserError as exc:
            raise _invalid(f"the multipart body is malformed: {exc}",
                           hint="let your HTTP client build the body (curl -F, "
                           "requests files=...)") from None
        await _flush(receiver, out)
    except BaseException:
        out.close()
        path.unlink(missing_ok=True)
        raise
    out.close()
    if receiver.filename is None:
        path.unlink(missing_ok=True)
        raise _invalid(f"no file was sent: the form field {FILE_FIELD!r} is missing",
                       field=FILE_FIELD, hint="curl -F file=@customers.csv -F profile=people "
                       "-F source=crm ...")
    return Upload(path, receiver.filename, receiver.digest.hexdigest(), receiver.size,
                  receiver.fields)


async def _flush(receiver: _Receiver, out: IO[bytes]) -> None:
    if receiver.buffer:
        data = bytes(receiver.buffer)
        receiver.buffer.clear()
        await anyio.to_thread.run_sync(out.write, data)


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.0f} MB" if n >= 1024 * 1024 else f"{n} bytes"
