"""The shapes of the import routes (profiles, codes, templates, settings, imports), so the
OpenAPI document describes them. Outputs mirror the dicts `allroads.ingest.service.Imports`
returns and let unknown keys through, like the other outputs (see schemas.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from allroads.api.schemas import Input, Output, Page

ImportStatus = Literal["uploaded", "validating", "validated", "committing", "committed",
                       "failed", "undone"]
RowStatus = Literal["valid", "rejected", "committed", "failed"]


# Profiles and codes ------------------------------------------------------------------------
class ImportField(Output):
    name: str
    label: str = Field(description="the column header used in the sample CSV")
    type: str = Field(description="text, name, email, phone, date, integer, choice, ...")
    mandatory: bool
    identifier: str | None = Field(description="the identifier kind the field feeds, if any")
    attribute: str | None = Field(description="the profile attribute the field feeds, if any")
    description: str
    updatable: bool = Field(description="false: an import may not change it on an existing "
                                        "record")
    aliases: list[str] = Field(description="other headers recognised for this field")
    choices: list[str] | None = None


class ImportOption(Output):
    name: str = Field(examples=["append_country_code"])
    label: str = Field(description="the option's Capillary wording")
    description: str


class ImportProfileOut(Output):
    name: str = Field(examples=["people"])
    title: str
    description: str
    entity_type: str | None = Field(description="person, account, or null for reference "
                                                "tables")
    match_on: list[str] = Field(description="the unique identifiers a template may match on")
    one_of: list[list[str]] = Field(description="groups of fields of which a row needs one")
    options: list[ImportOption]
    custom_fields: bool = Field(description="unmapped columns may be kept as custom fields")
    source_columns: bool = Field(description="id_map: columns named after other systems")
    fields: list[ImportField]
    sample_csv: str = Field(description="a header row and a sample row that says `mandatory` "
                                        "under each mandatory column")


class ImportProfileList(Output):
    data: list[ImportProfileOut]


class ImportCode(Output):
    code: str = Field(examples=["INVALID_EMAIL"])
    severity: Literal["error", "warning"] = Field(description="an error rejects the row (or "
                                                  "the file); a warning reports a correction")
    description: str


class ImportCodeList(Output):
    data: list[ImportCode]


# Templates and settings --------------------------------------------------------------------
class ImportTemplateIn(Input):
    """A saved template: how the columns of a file map to the profile's fields, the unique
    identifier to match on, and the profile's options. Every key may be left out."""

    match_on: str | None = Field(default=None, description="mobile, email, external_id or "
                                 "user_id (those the profile allows)", examples=["mobile"])
    mapping: dict[str, str] = Field(
        default_factory=dict, description='column header -> field name; "" ignores the '
        "column; columns not named are mapped automatically",
        examples=[{"Mobile No.": "mobile", "Notes": ""}])
    options: dict[str, Any] = Field(
        default_factory=dict, description="the profile's options (GET /import-profiles/{name}"
        " lists them)", examples=[{"append_country_code": True, "skip_empty_values": True}])


class ImportTemplateOut(Output):
    name: str
    profile: str
    match_on: str | None
    mapping: dict[str, str]
    options: dict[str, Any] = Field(description="every option of the profile, with its value")
    created_at: str
    updated_at: str


class ImportTemplateList(Output):
    data: list[ImportTemplateOut]


class ImportSettingsIn(Input):
    mobile_regex: str | None = Field(
        default=None, max_length=1000, description="a regular expression every mobile number "
        "must match in full: as E.164, E.164 digits or the national number; null: no regex",
        examples=[r"^91[6-9]\d{9}$"])


class ImportSettingsOut(Output):
    mobile_regex: str | None


# Imports -----------------------------------------------------------------------------------
class ImportProgress(Output):
    validated_rows: int = Field(description="rows checked and staged so far")
    committed_rows: int = Field(description="rows the commit has gone through so far")
    total_rows: int = Field(description="data rows in the file: an estimate from its line "
                            "ends until it is validated (0 when the format does not tell), "
                            "then the count")


class ImportIssue(Output):
    row_number: int = Field(description="the row as a spreadsheet numbers it: the header is "
                                        "row 1, the first data row 2")
    code: str = Field(examples=["INVALID_EMAIL"])
    severity: str
    message: str
    field: str | None = None
    column: str | None = None
    related_rows: list[int] = Field(default_factory=list, description="other rows the issue "
                                    "points to (duplicates)")


class RunnerState(Output):
    phase: Literal["process", "commit", "replay", "resume"]
    state: Literal["queued", "running"]


class ImportOut(Output):
    """An import job: what was uploaded, where it stands, and what it found or did."""

    id: str = Field(examples=["imp_01J9Z3"])
    status: ImportStatus = Field(description="uploaded → validating → validated → committing "
                                 "→ committed; failed (replayable); undone")
    profile: str
    source: str = Field(description="the system the file comes from; its ids become that "
                                    "source's ids")
    template: dict[str, Any] = Field(description="the template in force (saved one, inline "
                                                 "data and match_on combined)")
    filename: str
    size_bytes: int
    sha256: str
    file: dict[str, Any] = Field(description="format, compression, encoding, delimiter")
    dry_run: bool
    auto_commit: bool
    attempts: int
    error: str | None = Field(description="why the import failed (or the last retried error)")
    progress: ImportProgress
    counts: dict[str, Any] = Field(
        description="after validation: rows, create, update, unchanged, rejected, and "
        "corrected (rows with values corrected, listed as warnings); after the "
        "commit also committed: {created, updated, merged, unchanged, failed}; after an undo "
        "also undo: the undo report")
    columns: dict[str, Any] = Field(description="the columns report: headers, mapping, "
                                    "unmapped, recognized, missing_mandatory, issues")
    initiator: str
    created_at: str
    updated_at: str
    validated_at: str | None
    committed_at: str | None
    undone_at: str | None
    replayable_until: str | None = Field(description="a failed import can be replayed until "
                                                     "then")
    first_errors: list[ImportIssue] | None = Field(default=None, description="the first "
                                                   "errors (GET .../errors.csv has them all)")
    first_warnings: list[ImportIssue] | None = Field(
        default=None, description="the first corrections made to rows that are imported "
        "(whitespace trimmed, case folded, phones to E.164, country code appended...)")
    runner: RunnerState | None = Field(default=None, description="what the background runner "
                                       "is doing with the import, if anything")


class ImportList(Page):
    data: list[ImportOut]


class ImportRowOut(Output):
    row_number: int
    status: RowStatus
    action: str = Field(description="create, update, unchanged or rejected; after the commit "
                                    "what it did (created, updated, merged, unchanged, failed)")
    id: str | None = Field(description="the customer or account the row went to, once "
                                       "committed")
    fields: dict[str, Any] = Field(description="the row's checked values, by field")
    issues: list[dict[str, Any]]


class ImportRowList(Output):
    data: list[ImportRowOut]
    next_after: int | None = Field(description="pass as ?after= for the next page; null on "
                                               "the last page")


class UndoReport(Output):
    records_removed: int
    records_reverted: int
    entities_deleted: int
    merges_undone: list[str]
    references_deleted: int
    not_reverted: list[dict[str, Any]] = Field(description="what was left as it is because it "
                                               "changed since the import, and why")


class ImportUndone(ImportOut):
    undo: UndoReport
