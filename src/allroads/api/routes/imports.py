"""Bulk imports: upload a file, preview what it would do, commit it, replay or undo it.

    POST /imports                      multipart: file + profile, source, ... → 202, validated
                                       in the background (and committed, with auto_commit)
    GET  /imports                      the tenant's imports, newest first (?cursor= &limit=)
    GET  /imports/{id}                 status, progress, counts, first errors, columns report
    GET  /imports/{id}/rows            staged rows (?status= &after= &limit=)
    GET  /imports/{id}/errors.csv      every row with an issue: the original columns, then
                                       row_number, column, severity, code, message
    POST /imports/{id}/commit          202: the commit runs in the background
    POST /imports/{id}/replay          202: a failed import runs again (within 7 days)
    POST /imports/{id}/undo            revert what the import changed; the undo report

Viewer keys read; ingest keys upload, commit and replay; editor keys also undo.

The upload is streamed to disk (never whole in memory), limited by ALLROADS_IMPORT_MAX_BYTES
rather than the JSON body limit. `Idempotency-Key` works as on every POST, with the request
identified by a hash of the file's bytes, its name and the form fields (computed while the
file streams in): a retry with the same key and the same upload gets the first response and
creates no second import.
"""

# No `from __future__ import annotations`: the page size's bound (settings.page_limit_max) is
# known only when the router is built, and FastAPI reads it from the annotation at runtime.

import json
import os
import tempfile
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from allroads.api.deps import EditorKey, HubDep, IngestKey, ReaderKey
from allroads.api.errors import ApiError
from allroads.api.idempotency import (
    HEADER,
    MAX_KEY_LENGTH,
    IdempotencyDep,
    IdempotentRoute,
    check_key,
    claim_key,
    created_location,
)
from allroads.api.import_schemas import (
    ImportList,
    ImportOut,
    ImportRowList,
    ImportUndone,
    RowStatus,
)
from allroads.api.uploads import FILE_FIELD, Upload, receive_upload
from allroads.domain.types import Actor
from allroads.ingest.runner import ImportRunner
from allroads.ingest.service import Imports
from allroads.settings import Settings

DEFAULT_LIMIT = 50
ROWS_LIMIT = 1000
INCOMING = "incoming"  # the folder under ALLROADS_IMPORT_DIR where uploads stream to
UPLOAD_FIELDS = ("profile", "source", "template", "template_data", "match_on", "dry_run",
                 "auto_commit")
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off", ""})


async def get_imports(request: Request) -> Imports:
    imports: Imports = request.app.state.imports
    return imports


async def get_runner(request: Request) -> ImportRunner:
    runner: ImportRunner = request.app.state.import_runner
    return runner


ImportsDep = Annotated[Imports, Depends(get_imports)]
RunnerDep = Annotated[ImportRunner, Depends(get_runner)]
ImportId = Annotated[str, Path(max_length=64, description="the import's id (imp_...)")]
Cursor = Annotated[str | None, Query(max_length=32, description="next_cursor of the previous "
                                                                 "page")]
IdempotencyKey = Annotated[str | None, Header(
    alias=HEADER, description=f"any unique string (e.g. a UUID), at most {MAX_KEY_LENGTH} "
    "characters: a retry with the same key and the same upload (file and fields) returns "
    "the first response and creates no second import")]

UPLOAD_BODY: dict[str, Any] = {
    "required": True,
    "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": [FILE_FIELD, "profile", "source"],
        "properties": {
            FILE_FIELD: {"type": "string", "format": "binary",
                         "description": "the file: CSV (any delimiter, UTF-8, UTF-16 or "
                         "cp1252), XLSX, or either compressed with gzip"},
            "profile": {"type": "string", "example": "people",
                        "description": "the import profile (GET /import-profiles)"},
            "source": {"type": "string", "example": "crm",
                       "description": "the system the file comes from: its ids become that "
                       "source's ids, so a newer export of it updates instead of duplicating"},
            "template": {"type": "string", "description": "a saved template's name (GET "
                         "/import-templates); or inline template data as a JSON object"},
            "template_data": {"type": "string", "example": '{"mapping": {"Mobile No.": '
                              '"mobile"}, "options": {"append_country_code": true}}',
                              "description": "inline template data, as JSON text: mapping, "
                              "options, match_on (over a saved template's)"},
            "match_on": {"type": "string", "example": "mobile",
                         "description": "the unique identifier to match customers on"},
            "dry_run": {"type": "boolean", "default": False,
                        "description": "validate and preview only; a dry run cannot be "
                        "committed"},
            "auto_commit": {"type": "boolean", "default": False,
                            "description": "commit as soon as validation ends"},
        }}}},
}
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "the error report, as an attachment"}}


def router(settings: Settings) -> APIRouter:
    most = settings.page_limit_max
    default = min(DEFAULT_LIMIT, most)
    Limit = Annotated[int, Query(ge=1, le=most, description=f"page size, at most {most}")]

    def list_imports(principal: ReaderKey, imports: ImportsDep, runner: RunnerDep,
                     limit: Limit = default, cursor: Cursor = None) -> dict[str, Any]:
        items, next_cursor = imports.list_imports(principal.actor(), cursor=cursor,
                                                  limit=limit)
        for item in items:
            item["runner"] = runner.state(item["id"])
        return {"data": items, "next_cursor": next_cursor}

    r = APIRouter(prefix="/imports", tags=["Imports"], route_class=IdempotentRoute)
    r.add_api_route("", upload, methods=["POST"], status_code=202, response_model=ImportOut,
                    summary="Upload a file to import",
                    description="Streams the file to disk and registers the import; "
                    "validation then runs in the background (poll GET /imports/{id} until "
                    "`validated`), followed by the commit when `auto_commit` is true. A file "
                    "that cannot be read is refused here (422, with what to try). The size "
                    "limit is ALLROADS_IMPORT_MAX_BYTES (413 past it).",
                    openapi_extra={"requestBody": UPLOAD_BODY})
    r.add_api_route("", list_imports, methods=["GET"], response_model=ImportList,
                    summary="List imports")
    r.add_api_route("/{id}", get_import, methods=["GET"], response_model=ImportOut,
                    summary="Get an import",
                    description="Status, progress (rows validated and committed so far), "
                    "counts, the first errors and the columns report (mapping, unmapped "
                    "columns).")
    r.add_api_route("/{id}/rows", list_rows, methods=["GET"], response_model=ImportRowList,
                    summary="List an import's staged rows")
    r.add_api_route("/{id}/errors.csv", errors_csv, methods=["GET"], response_class=Response,
                    responses=CSV_RESPONSE, summary="Download the error report",
                    description="Every row with an error or warning: its original columns, "
                    "then row_number, column, severity, code and message, one line per "
                    "issue. Cells starting with = + - @, a tab or a carriage return are "
                    "escaped with a leading ' against formula injection.")
    r.add_api_route("/{id}/commit", commit, methods=["POST"], status_code=202,
                    response_model=ImportOut, summary="Commit a validated import",
                    description="Applies the valid rows in batches, in the background; poll "
                    "GET /imports/{id} until `committed`. 409 for a dry run or an import that "
                    "is not `validated`.")
    r.add_api_route("/{id}/replay", replay, methods=["POST"], status_code=202,
                    response_model=ImportOut, summary="Replay a failed import",
                    description="Runs a failed import again in the background, for 7 days "
                    "after the upload; rows already committed are not applied twice. 409 for "
                    "an import that is not `failed`, or past its replay window.")
    r.add_api_route("/{id}/undo", undo, methods=["POST"], response_model=ImportUndone,
                    summary="Undo an import",
                    description="Reverts what a committed (or failed) import changed: the "
                    "records it created are removed, those it updated get their earlier "
                    "values back, the merges it caused are undone. A record changed since "
                    "the import is left as it is and listed in `undo.not_reverted`.")
    return r


# Upload --------------------------------------------------------------------------------------
async def upload(request: Request, response: Response, principal: IngestKey, hub: HubDep,
                 imports: ImportsDep, runner: RunnerDep, key: IdempotencyKey = None
                 ) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    if key is not None:
        check_key(key)  # before the body is read: a bad header should not cost an upload
    received = await receive_upload(request, imports.config.upload_dir / INCOMING,
                                    max_bytes=settings.import_max_bytes, fields=UPLOAD_FIELDS)
    try:
        options = _submit_options(received.fields)
        if key is not None:
            await claim_key(request, principal, key, received.body_hash(),
                            body="file or form fields")
        view = await run_in_threadpool(_submit, imports, runner, principal.actor(),
                                       received, options)
    finally:
        await run_in_threadpool(received.discard)
    response.headers["Location"] = created_location(request.url.path, view) or ""
    return view


def _submit(imports: Imports, runner: ImportRunner, actor: Actor, received: Upload,
            options: dict[str, Any]) -> dict[str, Any]:
    job = imports.submit(actor, received.path, filename=received.filename, move=True, **options)
    return runner.process(actor, job["id"])


def _submit_options(fields: dict[str, str]) -> dict[str, Any]:
    """The keyword arguments of Imports.submit from the form fields; 422 naming the field."""
    for name in ("profile", "source"):
        if not fields.get(name, "").strip():
            raise ApiError(422, "invalid_input", f"the form field {name!r} is required",
                           field=name, hint="-F profile=people (GET /api/v1/import-profiles "
                           "lists them)" if name == "profile" else "-F source=crm: the "
                           "system the file was exported from")
    template: str | None = fields.get("template", "").strip() or None
    data: dict[str, Any] | None = None
    if template is not None and template.startswith("{"):
        data, template = _json_object("template", template), None
    if fields.get("template_data", "").strip():
        data = {**(data or {}), **_json_object("template_data", fields["template_data"])}
    return {"profile": fields["profile"].strip(), "source": fields["source"],
            "template": template, "template_data": data,
            "match_on": fields.get("match_on", "").strip() or None,
            "dry_run": _flag(fields, "dry_run"), "auto_commit": _flag(fields, "auto_commit")}


def _json_object(name: str, text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ApiError(422, "invalid_input", f"the form field {name!r} is not valid JSON: "
                       f"{exc}", field=name, hint='send a JSON object, e.g. {"mapping": '
                       '{"Mobile No.": "mobile"}, "options": {"append_country_code": true}}'
                       ) from None
    if not isinstance(value, dict):
        raise ApiError(422, "invalid_input", f"the form field {name!r} must be a JSON object, "
                       f"got {type(value).__name__}", field=name,
                       hint='send e.g. {"mapping": {"Mobile No.": "mobile"}}')
    return value


def _flag(fields: dict[str, str], name: str) -> bool:
    value = fields.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ApiError(422, "invalid_input", f"the form field {name!r} must be true or false, got "
                   f"{fields[name][:40]!r}", field=name, hint=f"-F {name}=true")


# Reading -------------------------------------------------------------------------------------
def get_import(id: ImportId, principal: ReaderKey, runner: RunnerDep) -> dict[str, Any]:
    return runner.view(principal.actor(), id)


def list_rows(id: ImportId, principal: ReaderKey, imports: ImportsDep,
              status: Annotated[RowStatus | None, Query(
                  description="only rows with this status")] = None,
              after: Annotated[int, Query(ge=0, description="rows after this row_number "
                                          "(next_after of the previous page)")] = 0,
              limit: Annotated[int, Query(ge=1, le=ROWS_LIMIT,
                                          description=f"at most {ROWS_LIMIT}")] = 100
              ) -> dict[str, Any]:
    rows = imports.rows(principal.actor(), id, status=status, after=after, limit=limit)
    return {"data": rows,
            "next_after": rows[-1]["row_number"] if len(rows) == limit else None}


def errors_csv(id: ImportId, principal: ReaderKey, imports: ImportsDep) -> Response:
    # Written to a temporary file first, so a 404 is a problem response rather than a
    # broken download, then streamed from it (and the file removed).
    fd, name = tempfile.mkstemp(prefix="allroads-errors-", suffix=".csv")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            lines = imports.error_report(principal.actor(), id, out)
    except BaseException:
        os.unlink(name)
        raise
    return FileResponse(name, media_type="text/csv; charset=utf-8",
                        filename=f"{id}-errors.csv", headers={"Allroads-Error-Lines":
                                                              str(lines)},
                        background=BackgroundTask(os.unlink, name))


# Phases ----------------------------------------------------------------------------------------
def commit(id: ImportId, principal: IngestKey, _idempotency: IdempotencyDep,
           runner: RunnerDep) -> dict[str, Any]:
    return runner.commit(principal.actor(), id)


def replay(id: ImportId, principal: IngestKey, _idempotency: IdempotencyDep,
           runner: RunnerDep) -> dict[str, Any]:
    return runner.replay(principal.actor(), id)


def undo(id: ImportId, principal: EditorKey, _idempotency: IdempotencyDep,
         imports: ImportsDep) -> dict[str, Any]:
    return imports.undo(principal.actor(), id)
