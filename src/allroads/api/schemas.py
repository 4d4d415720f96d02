"""The shapes of the API, per resource a family: `XCreate`, `XUpdate` (inputs: unknown fields
are a 422 naming them), `XPublic` (what is returned) and list pages `{data, next_cursor}`.

Outputs mirror the dicts the Hub returns and let unknown keys through (`extra="allow"`), so a
field the Hub adds reaches clients without an API change. Attributes that come from source
records unchanged (a person's gender, an account's tier, ...) are typed `Any`: a source may
send any JSON there.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StrictBool, field_validator
from pydantic_core import PydanticCustomError

from allroads.domain.types import TOUCHPOINTS, Role


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(extra="allow")


# Value types ----------------------------------------------------------------------------
def _text_or_int(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise PydanticCustomError("string_or_integer", "expected a string or an integer, got "
                              "{got}", {"got": type(value).__name__})


def _identifier_value(value: object) -> str | list[str]:
    if isinstance(value, list):
        if len(value) > 100:
            raise PydanticCustomError("too_many_values", "at most 100 values per identifier "
                                      "kind, got {n}", {"n": len(value)})
        return [_text_or_int(v) for v in value]
    try:
        return _text_or_int(value)
    except PydanticCustomError:
        raise PydanticCustomError(
            "identifier_value", "an identifier is a string, an integer or a list of them, "
            "got {got}", {"got": type(value).__name__}) from None


SourceId = Annotated[str, PlainValidator(_text_or_int, json_schema_input_type=str | int)]
IdentifierValue = Annotated[str | list[str], PlainValidator(
    _identifier_value, json_schema_input_type=str | int | list[str | int])]
Name = Annotated[str, Field(max_length=255)]
LongText = Annotated[str, Field(max_length=10_000)]
Source = Annotated[str, Field(min_length=1, max_length=64, examples=["crm"])]
EntityTypeName = Literal["person", "account"]


class Page(Output):
    next_cursor: str | None = Field(
        description="pass as ?cursor= to get the next page; null on the last page")


# Identify -------------------------------------------------------------------------------
class Identifiers(BaseModel):
    """Typed identifiers; any other lower-case snake_case name is a custom kind."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, IdentifierValue] = Field(init=False)

    email: IdentifierValue | None = None
    phone: IdentifierValue | None = None
    external_id: IdentifierValue | None = None
    user_ref: IdentifierValue | None = None
    org_ref: IdentifierValue | None = None
    domain: IdentifierValue | None = None
    card_number: IdentifierValue | None = None
    device_id: IdentifierValue | None = None
    push_token: IdentifierValue | None = None
    app_install_id: IdentifierValue | None = None
    source_id: IdentifierValue | None = Field(
        default=None, description="ids of the same customer in other sources, as "
        "'source:id' (e.g. 'product:34'): the MyId of a record")

    def values(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class IdentifyAccountIn(Input):
    source: Source
    source_id: SourceId | None = None
    identifiers: Identifiers = Field(default_factory=Identifiers)
    attributes: dict[str, Any] = Field(default_factory=dict)


class IdentifyIn(Input):
    type: EntityTypeName
    source: Source
    source_id: SourceId | None = Field(default=None, description="the record's id in the "
                                       "source; without it the best identifier keys it")
    identifiers: Identifiers = Field(default_factory=Identifiers)
    attributes: dict[str, Any] = Field(default_factory=dict)
    account: IdentifyAccountIn | None = Field(default=None, description="the account the "
                                              "person belongs to, identified in the same call")
    touchpoint: str | None = Field(default=None, description="where the data comes from; "
                                   "it picks the match policy: " + ", ".join(TOUCHPOINTS))

    @field_validator("touchpoint")
    @classmethod
    def _known_touchpoint(cls, value: str | None) -> str | None:
        if value is not None and value not in TOUCHPOINTS:
            raise PydanticCustomError("touchpoint", "unknown touchpoint '{value}': use one of "
                                      "{known}", {"value": value, "known": ", ".join(TOUCHPOINTS)})
        return value

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "type": "person", "source": "widget", "source_id": "visitor-81",
        "identifiers": {"email": "jane@acme.com", "phone": "+1 415 555 2671"},
        "attributes": {"name": "Jane Doe"},
        "account": {"source": "widget", "source_id": "org-9",
                    "identifiers": {"domain": "acme.com"},
                    "attributes": {"display_name": "ACME"}}}]})


class IdentifyOut(Output):
    id: str | None = Field(description="the customer's id; null when rejected")
    type: EntityTypeName
    action: Literal["created", "matched", "merged", "rejected", "review"]
    evidence: list[dict[str, Any]]
    message: str | None = None
    account: IdentifyOut | None = None
    merge_id: str | None = None
    review_id: str | None = None


# Entities -------------------------------------------------------------------------------
class PersonFields(Input):
    first_name: Name | None = None
    last_name: Name | None = None
    name: Name | None = None
    emails: list[str] | None = Field(default=None, max_length=100)
    phones: list[str] | None = Field(default=None, max_length=100)
    birthdate: dt.date | None = None
    gender: Name | None = None
    area: Name | None = None
    timezone: Name | None = Field(default=None, examples=["Europe/Paris"])
    account: str | None = Field(default=None, pattern=r"^acc_", description="the account id "
                                "(acc_...) the person belongs to; null detaches")
    external_ref: Name | None = Field(default=None, description="the person's reference in "
                                      "your systems (a user_ref identifier)")
    external_id: Name | None = None
    custom_attributes: dict[str, Any] | None = Field(default=None, description="other "
                                                     "attributes; a key set to null is removed")

    @field_validator("timezone")
    @classmethod
    def _iana_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError("timezone", "unknown time zone '{value}': use an IANA "
                                      "name such as Europe/Paris", {"value": value}) from None
        return value


class PersonCreate(PersonFields):
    pass


class PersonUpdate(PersonFields):
    """Only the fields sent change; a field sent as null is cleared."""


class AccountFields(Input):
    description: LongText | None = None
    domains: list[str] | None = Field(default=None, max_length=100)
    tags: list[Name] | None = Field(default=None, max_length=100)
    tier: Name | None = None
    owner: Name | None = None
    external_ref: Name | None = Field(default=None, description="the account's reference in "
                                      "your systems (an org_ref identifier)")
    external_id: Name | None = None
    phones: list[str] | None = Field(default=None, max_length=100)
    custom_attributes: dict[str, Any] | None = None


class AccountCreate(AccountFields):
    display_name: Annotated[str, Field(min_length=1, max_length=255)]


class AccountUpdate(AccountFields):
    """Only the fields sent change; a field sent as null is cleared."""

    display_name: Annotated[str, Field(min_length=1, max_length=255)] | None = None


class EntityPublic(Output):
    id: str
    type: EntityTypeName
    display_name: str | None
    identifiers: dict[str, list[str]] = Field(description="every active identifier, by kind")
    custom_attributes: dict[str, Any]
    sources: dict[str, list[str]] = Field(description="the record ids in each source")
    created_at: dt.datetime
    updated_at: dt.datetime
    provenance: dict[str, Any] | None = Field(default=None, description="where each field's "
                                              "value comes from (a list field's `values`: "
                                              "where each of its values comes from); not in "
                                              "lists")


class PersonPublic(EntityPublic):
    type: Literal["person"]
    first_name: Any = None
    last_name: Any = None
    name: Any = None
    birthdate: Any = None
    gender: Any = None
    area: Any = None
    timezone: Any = None
    emails: list[str]
    phones: list[str]
    external_ref: str | None = None
    external_id: str | None = None
    account: str | None = None


class AccountPublic(EntityPublic):
    type: Literal["account"]
    description: Any = None
    tier: Any = None
    owner: Any = None
    tags: Any = None
    domains: list[str]
    phones: list[str]
    external_ref: str | None = None
    external_id: str | None = None


AnyEntityPublic = Annotated[PersonPublic | AccountPublic, Field(discriminator="type")]


class PersonList(Page):
    data: list[PersonPublic]


class AccountList(Page):
    data: list[AccountPublic]


# Crosswalk, merges, history -------------------------------------------------------------
class CrosswalkRecord(Output):
    source: str
    source_id: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    versions: int


class CrosswalkOut(Output):
    id: str
    type: EntityTypeName
    ids: dict[str, list[str]] = Field(description="the entity's id in each source")
    records: list[CrosswalkRecord]


class CrosswalkIn(Input):
    ids: dict[str, SourceId] = Field(min_length=1, max_length=100,
                                     examples=[{"crm": "110", "support": "2101"}])


EntityIds = Annotated[list[Annotated[str, Field(max_length=64)]],
                      Field(min_length=1, max_length=100)]

PublicT = TypeVar("PublicT", bound=EntityPublic)


class MergeIn(Input):
    ids: EntityIds = Field(description="the ids to merge into this one")


class MergeOut(Output, Generic[PublicT]):
    merge_id: str
    survivor: str = Field(description="the id that stays (the oldest); the others redirect "
                          "to it")
    merged: list[str]
    entity: PublicT


class UndoIn(Input):
    keep_apart: bool = Field(default=True, description="remember that the entities are "
                             "different customers, so they are never merged again "
                             "automatically")


class UndoOut(Output):
    merge_id: str
    undone: bool
    entities: list[AnyEntityPublic]


class KeepApartIn(Input):
    ids: EntityIds
    reason: Annotated[str, Field(max_length=1000)] = ""


class KeepApartOut(Output):
    id: str
    kept_apart_from: list[str]


class ChangeOut(Output):
    id: int
    entity: str = Field(description="the id of the entity changed: this one, or one merged "
                        "into it")
    name: str | None = Field(description="that entity's display name (for an entity merged "
                             "away, the one it was merged into)")
    at: dt.datetime
    touchpoint: str
    initiator: str
    field: str
    old: Any
    new: Any
    merge_id: str | None
    import_id: str | None


class ChangeList(Page):
    data: list[ChangeOut]


class IdentifierHistoryItem(Output):
    kind: str
    value: str
    source: str
    source_id: str
    added_at: dt.datetime
    removed_at: dt.datetime | None
    active: bool


class IdentifierHistory(Output):
    data: list[IdentifierHistoryItem]


class ExplainOut(Output):
    id: str
    type: EntityTypeName
    records: list[dict[str, Any]] = Field(description="each record with the link that put it "
                                          "here (linked_by) and its link history")
    merges: list[dict[str, Any]]
    decisions: list[dict[str, Any]] = Field(description="force-together and force-apart "
                                            "decisions made by people (kind together, "
                                            "apart, or cleared: a merge undone without "
                                            "keeping them apart)")


# Admin ----------------------------------------------------------------------------------
class SourceOut(Output):
    name: str
    priority: int
    description: str


class SourceList(Output):
    data: list[SourceOut]


class SourceIn(Input):
    priority: Annotated[int, Field(ge=0, le=1000, description="trust: higher wins in "
                                   "survivorship")]
    description: LongText | None = None


class IdentifierRuleIn(Input):
    # true or false only: "true" or 1 is a 422, as the CLI refuses them (RuleSet.from_dict)
    unique: StrictBool | None = None
    max_per_entity: Annotated[int, Field(ge=1)] | None = None
    priority: Annotated[int, Field(ge=1)] | None = None
    blocked_values: list[str] | None = None
    blocked_patterns: list[str] | None = None
    block_repeated_digits: StrictBool | None = Field(
        default=None, description="phone only: numbers of one repeated digit never identify")
    block_free_mail: StrictBool | None = Field(
        default=None, description="domain only: free-mail domains (gmail.com, ...) never "
        "identify")
    shared_limit: Annotated[int, Field(ge=1)] | None = None


class RulesIn(Input):
    entity_type: EntityTypeName | None = Field(default=None, description="ignored; accepted "
                                               "so a GET can be sent back")
    remarked: dict[str, Any] | None = Field(default=None, description="ignored; accepted so "
                                            "a PUT's answer can be sent back")
    identifiers: dict[str, IdentifierRuleIn] = Field(default_factory=dict)
    policies: dict[str, Literal["reject", "review", "merge"]] = Field(
        default_factory=dict, description="per touchpoint, what to do when one request "
        "points at several customers")

    def to_hub(self) -> dict[str, Any]:
        return {"identifiers": {k: v.model_dump(exclude_none=True)
                                for k, v in self.identifiers.items()},
                "policies": dict(self.policies)}


class RulesOut(Output):
    entity_type: EntityTypeName
    identifiers: dict[str, dict[str, Any]]
    policies: dict[str, str]


class RemarkedOut(Output):
    checked: int = Field(description="stored values read again, of the kinds whose blocks "
                         "changed (0 when no block changed)")
    blocked: int = Field(description="stored values blocked now that identified before")
    unblocked: int = Field(description="stored values that identify again")
    records: int = Field(description="records whose matching features were worked out again")


class RulesSaved(RulesOut):
    remarked: RemarkedOut = Field(description="what saving did to the values already stored: "
                                  "a change in blocked values, patterns or built-in blocks "
                                  "marks every stored value of those kinds again before the "
                                  "answer")


class ApiKeyOut(Output):
    id: int
    name: str
    prefix: str
    role: Role
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class ApiKeyList(Output):
    data: list[ApiKeyOut]


class ApiKeyCreate(Input):
    role: Role
    name: Annotated[str, Field(max_length=255)] = ""


class ApiKeyCreated(ApiKeyOut):
    key: str | None = Field(description="the key itself: shown only in this response (a "
                            "replay of the request shows null)")


class Health(Output):
    status: Literal["ok"]
    database: str


# Quality --------------------------------------------------------------------------------
class QualityEntity(Output):
    id: str
    display_name: str


class QualityEntities(Output):
    count: int = Field(description="how many there are")
    items: list[QualityEntity] = Field(description="the first ones (?limit=)")


class BlockedIdentifier(Output):
    type: EntityTypeName
    kind: str
    value: str = Field(description="the normalized value, e.g. info@acme.com")
    records: int = Field(description="how many records hold it")


class SharedIdentifier(Output):
    type: EntityTypeName
    kind: str
    value: str
    entities: int = Field(description="how many customers hold it")


class QualityReviewItem(Output):
    public_id: str = Field(description="rev_... (open review) or rej_... (rejected record)")
    entity_type: EntityTypeName
    entity_ids: list[str] = Field(description="the customers the record pointed at")
    reason: str
    evidence: Any
    created_at: dt.datetime


class QualityOut(Output):
    people_without_account: QualityEntities
    accounts_without_external_ref: QualityEntities = Field(
        description="accounts with no org_ref or external_id: no system's id leads to them")
    blocked_identifiers: list[BlockedIdentifier] = Field(
        description="values that never identify anyone (info@..., placeholder phones), up "
        "to ?limit= per entity type")
    shared_identifiers: list[SharedIdentifier] = Field(
        description="identifying values held by several customers, up to ?limit= per entity "
        "type")
    open_reviews: list[QualityReviewItem] = Field(description="the newest first")
    recent_rejections: list[QualityReviewItem] = Field(
        description="records refused by a touchpoint's reject policy, the newest first")


# Errors ---------------------------------------------------------------------------------
class ProblemItem(Output):
    location: str = Field(description="where: body.identifiers.email, query.limit, ...")
    message: str
    type: str
    hint: str | None = None


class Problem(Output):
    """An RFC 9457 problem detail (media type application/problem+json)."""

    type: str = Field(description="a link to the page describing this kind of problem")
    title: str
    status: int
    detail: str = Field(description="what went wrong, specifically")
    instance: str = Field(description="the path of the request")
    code: str = Field(description="a stable machine-readable code, e.g. not_found")
    field: str | None = Field(default=None, description="the input the problem is about")
    hint: str | None = Field(default=None, description="how to fix it")
    errors: list[ProblemItem] | None = Field(default=None, description="every problem, for "
                                             "validation errors")
