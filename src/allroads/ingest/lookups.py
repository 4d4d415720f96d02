"""Checks of a batch of rows against the store: who each row updates, and the conflicts
the Capillary error table lists (a value registered to a different customer, a changed
mobile, an inactive or fraud customer, unknown stores, card series or customers).

`check_batch` fills each row's `key` (its id in the source), `target` (the customer it
updates) and `action` (create, update or unchanged), and adds issues. It only reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from allroads.domain.errors import AllroadsError, InvalidIdentifier
from allroads.domain.identifiers import normalize_identifier
from allroads.domain.types import Actor, EntityType
from allroads.ingest.issues import Issue, Severity
from allroads.ingest.profiles import FieldType, ImportProfile
from allroads.ingest.rowplan import (
    ATTRIBUTE_PROFILES,
    ENTITY_PROFILES,
    MATCH_ON,
    REFERENCE_PROFILES,
    entity_type,
    match_field,
    record_key,
    reference_key,
    row_identifiers,
    row_request,
)
from allroads.ingest.templates import Template
from allroads.resolution.identify import prepare
from allroads.resolution.merging import survivor
from allroads.resolution.rules import IdentifierRule
from allroads.resolution.unit import Unit
from allroads.store import EntityRow, ImportRow, RecordRow, Tx

if TYPE_CHECKING:
    from allroads.ingest.validate import CheckedRow

# A value held by another customer: the issue code per identifier kind.
TAKEN_CODES = {"email": "EMAIL_REGISTERED_TO_OTHER", "phone": "MOBILE_REGISTERED_TO_OTHER",
               "external_id": "EXTERNAL_ID_REGISTERED_TO_OTHER",
               "card_number": "EXTERNAL_ID_REGISTERED_TO_OTHER"}
TAKEN_MESSAGES = {
    "email": "Email is already present for some other registered user in the system",
    "phone": "Mobile number is already registered for a different user in the system",
    "external_id": "External ID / Card number is already registered for a different user",
    "card_number": "External ID / Card number is already registered for a different user",
}
# Status labels and fraud statuses that make a customer inactive or fraud for imports.
INACTIVE_STATUSES = {"suspended", "deleted", "fraud suspected", "fraud confirmed"}
FRAUD_STATUSES = {"MARKED", "CONFIRMED", "RECONFIRMED"}


def check_batch(tx: Tx, actor: Actor, job: ImportRow, profile: ImportProfile,
                template: Template, rows: Sequence[CheckedRow]) -> None:
    live = [r for r in rows if not r.rejected]
    _check_stores(tx, actor, profile, template, live)
    live = [r for r in live if not r.rejected]
    if profile.name in ENTITY_PROFILES or profile.name in ATTRIBUTE_PROFILES:
        _Customers(tx, actor, job, profile, template).check(live)
    elif profile.name in ("cards", "coupon_redemptions"):
        _Customers(tx, actor, job, profile, template).link(live)
        _check_references(tx, actor, profile, template, [r for r in live if not r.rejected])
    elif profile.name == "id_map":
        _check_id_map(tx, actor, live)
    elif profile.name in REFERENCE_PROFILES:
        _check_references(tx, actor, profile, template, live)


class _Customers:
    """Finds the customer each row means, and the conflicts around it."""

    def __init__(self, tx: Tx, actor: Actor, job: ImportRow, profile: ImportProfile,
                 template: Template) -> None:
        self.tx = tx
        self.actor = actor
        self.job = job
        self.profile = profile
        self.template = template
        self.etype = entity_type(profile) if profile.entity_type else EntityType.PERSON
        self.unit = Unit(tx, actor, job.created_at)
        self.rules = self.unit.rules(self.etype)
        self._seen: dict[int, dict[str, list[str]]] = {}
        self._rules: dict[str, IdentifierRule] = {}

    def _index(self, rows: Sequence[CheckedRow]) -> tuple[
            dict[tuple[str, str], set[int]], dict[str, EntityRow]]:
        pairs = [(k, v) for r in rows
                 for k, vs in self._identifiers(r).items() for v in vs]
        held: dict[tuple[str, str], set[int]] = {}
        for hit in self.tx.identifier_hits(self.actor.tenant_id, self.etype.value, pairs):
            held.setdefault((hit.kind, hit.value), set()).add(hit.entity_id)
        users = {str(r.fields["user_id"]) for r in rows if r.fields.get("user_id")}
        by_public = self.tx.entities_by_public_id(self.actor.tenant_id, users) if users else {}
        return held, by_public

    def _identifiers(self, row: CheckedRow) -> dict[str, list[str]]:
        """The row's usable (unique, not blocked) identifier values, by kind."""
        cached = self._seen.get(row.number)
        if cached is None:
            cached = self._seen[row.number] = self._usable(row)
        return cached

    def _usable(self, row: CheckedRow) -> dict[str, list[str]]:
        idents = row_identifiers(self.profile, row.fields)
        given = row.fields.get("user_identification")
        if self.profile.name == "coupon_redemptions" and given:
            kind = MATCH_ON.get(self.template.match_on or "mobile", ("mobile", "phone"))[1]
            if kind is None:
                row.fields.setdefault("user_id", str(given))
            else:
                try:
                    value = normalize_identifier(kind, given, region=self.actor.region)
                except InvalidIdentifier as exc:
                    row.issues.append(Issue("UNKNOWN_CUSTOMER", f"User Identification Input "
                                            f"{given!r} is not a valid {kind}: {exc.reason}",
                                            field="user_identification"))
                else:
                    idents.setdefault(kind, []).append(value)
        out: dict[str, list[str]] = {}
        for kind, values in idents.items():
            rule = self._rules.get(kind)
            if rule is None:
                rule = self._rules[kind] = self.rules.rule(kind)
            if rule.unique:
                out[kind] = [v for v in values if not rule.blocked_reason(v)]
        return out

    def _target(self, row: CheckedRow, held: dict[tuple[str, str], set[int]],
                by_public: dict[str, EntityRow]) -> tuple[int | None, bool]:
        """The entity id the row updates, or None; False when it cannot be told."""
        user = row.fields.get("user_id")
        if user:
            entity = by_public.get(str(user))
            if entity is None or entity.entity_type != self.etype.value:
                row.issues.append(Issue("UNKNOWN_CUSTOMER", f"there is no customer {user!r} "
                                        "in this workspace", field="user_id"))
                return None, False
            return survivor(self.tx, entity).id, True
        idents = self._identifiers(row)
        match_on = self.template.match_on
        if match_on in MATCH_ON and MATCH_ON[match_on][1] is not None:
            kind = MATCH_ON[match_on][1]
            assert kind is not None
            owners = {e for v in idents.get(kind, []) for e in held.get((kind, v), ())}
        else:
            owners = {e for k, vs in idents.items() for v in vs for e in held.get((k, v), ())}
        if len(owners) > 1 and match_on in MATCH_ON:
            row.issues.append(Issue("AMBIGUOUS_CUSTOMER", "the row's "
                                    f"{match_on} belongs to {len(owners)} customers; merge "
                                    "them first or match on another identifier",
                                    field=match_field(self.profile, match_on)))
            return None, False
        if len(owners) == 1:
            return owners.pop(), True
        return None, True

    def check(self, rows: Sequence[CheckedRow]) -> None:
        if not rows:
            return
        tenant, etype = self.actor.tenant_id, self.etype.value
        held, by_public = self._index(rows)
        keys = {r.number: record_key(self.profile, self.template.match_on, r.fields)
                for r in rows}
        stored = self.tx.existing_records(tenant, etype, [
            (self.job.source, k) for k in keys.values() if k is not None])
        targets: dict[int, int | None] = {}
        for row in rows:
            target, ok = self._target(row, held, by_public)
            key = keys[row.number]
            if ok and target is None and key is not None and (self.job.source, key) in stored:
                record = self.tx.record(tenant, etype, self.job.source, key)
                target = record.entity_id if record else None
            if ok:
                targets[row.number] = target
        ents = self.tx.entities_by_id({t for t in targets.values() if t is not None})
        profiles = self.tx.profiles_by_id(ents)
        mine: dict[int, list[RecordRow]] = {}
        for rec in self.tx.records_of(ents):
            if rec.source == self.job.source:
                mine.setdefault(rec.entity_id, []).append(rec)
        versions = {v.record_id: v for v in self.tx.current_versions(mine)}
        attribute_profile = self.profile.name in ATTRIBUTE_PROFILES
        for row in rows:
            if row.number not in targets:
                continue
            target = targets[row.number]
            entity = ents.get(target) if target is not None else None
            self._conflicts(row, target, held)
            if entity is None:
                if attribute_profile:
                    row.issues.append(Issue(
                        "UNKNOWN_CUSTOMER", "no registered customer has this "
                        f"{self.template.match_on or 'identifier'}; only registered "
                        "customers can be updated by this profile",
                        field=match_field(self.profile, self.template.match_on)))
                else:
                    row.key = keys[row.number]
                    row.action = "create"
                continue
            row.target = entity.public_id
            profile_row = profiles.get(entity.id)
            if not attribute_profile:
                self._existing(row, entity, profile_row.data if profile_row else {})
            if row.rejected:
                continue
            own = mine.get(entity.id, [])
            key = keys[row.number]
            if attribute_profile:  # onto the record this source holds for the customer
                key = own[0].source_key if own else entity.public_id
            row.key = key  # None: identify derives it from the identifiers (email:...)
            base = next((versions.get(r.id) for r in own if r.source_key == key), None)
            row.action = self._action(row, base)

    def _existing(self, row: CheckedRow, entity: EntityRow, data: dict[str, Any]) -> None:
        """Checks for a row that updates an existing customer."""
        attrs = data.get("attributes", {})
        status = str(attrs.get("status") or "").casefold()
        fraud = str(attrs.get("fraud_status") or "").upper()
        if entity.status != "active" or status in INACTIVE_STATUSES or fraud in FRAUD_STATUSES:
            why = (f"status {attrs.get('status')!r}" if status in INACTIVE_STATUSES else
                   f"fraud status {fraud}" if fraud in FRAUD_STATUSES else "deleted")
            row.issues.append(Issue("CUSTOMER_INACTIVE_OR_FRAUD", "The user is inactive or "
                                    f"marked as fraud ({entity.public_id}: {why})"))
            return
        if self.template.options.disable_updates:
            row.issues.append(Issue("UPDATE_DISABLED", f"customer {entity.public_id} exists "
                                    "and the template disables updating existing records"))
            return
        mobile = row.fields.get("mobile")
        spec = next((s for s in self.profile.fields if s.name == "mobile"), None)
        phones = data.get("identifiers", {}).get("phone", [])
        if mobile and spec is not None and not spec.updatable and phones and \
                mobile not in phones:
            row.issues.append(Issue(
                "MOBILE_CHANGE_NOT_ALLOWED", f"customer {entity.public_id} has the mobile "
                f"{phones[0]}; the mobile number may not be updated through import",
                field="mobile", column=None))

    def _conflicts(self, row: CheckedRow, target: int | None,
                   held: dict[tuple[str, str], set[int]]) -> None:
        for kind, values in self._identifiers(row).items():
            for value in values:
                others = held.get((kind, value), set()) - ({target} if target else set())
                if others:
                    row.issues.append(Issue(
                        TAKEN_CODES.get(kind, "IDENTIFIER_REGISTERED_TO_OTHER"),
                        TAKEN_MESSAGES.get(kind, f"{kind} {value!r} is already registered "
                                           "for a different customer") + f" ({value})",
                        field=kind))

    def _action(self, row: CheckedRow, base: Any) -> str:
        data = {"fields": row.fields, "custom": row.custom, "key": row.key, "empty": row.empty}
        try:
            req = row_request(self.profile, self.job.source, data, base,
                              self.template.options)
            prepared = prepare(self.unit, req, self.rules)
        except AllroadsError:
            return "update"
        stored = self.tx.record(self.actor.tenant_id, self.etype.value, prepared.source,
                                prepared.source_key)
        return "unchanged" if stored and stored.content_hash == prepared.content_hash \
            else "update"

    def link(self, rows: Sequence[CheckedRow]) -> None:
        """Cards and coupon redemptions: the customer named in the row must exist."""
        if not rows:
            return
        held, by_public = self._index(rows)
        for row in rows:
            if not self._identifiers(row) and not row.fields.get("user_id"):
                continue
            target, ok = self._target(row, held, by_public)
            if not ok:
                continue
            if target is None:
                row.issues.append(Issue("UNKNOWN_CUSTOMER", "no registered customer has the "
                                        "identifier given in this row", field="user_id"))
                continue
            entity = self.tx.entity(target)
            row.target = entity.public_id if entity else None


def _check_stores(tx: Tx, actor: Actor, profile: ImportProfile, template: Template,
                  rows: Sequence[CheckedRow]) -> None:
    specs = [s for s in profile.fields if s.type is FieldType.STORE]
    if not specs or not rows or profile.name == "stores":
        return
    by_ext = template.options.stores_by_external_id
    codes = {str(r.fields[s.name]) for r in rows for s in specs if r.fields.get(s.name)}
    known = tx.known_stores(actor.tenant_id, codes, by_external_id=by_ext)
    replacement = template.options.replace_invalid_store
    for row in rows:
        for spec in specs:
            code = row.fields.get(spec.name)
            if not code or str(code) in known:
                continue
            if replacement:
                row.fields[spec.name] = replacement
                row.issues.append(Issue("STORE_REPLACED", f"store {code!r} is not in the "
                                        f"system; replaced by {replacement!r} as the template "
                                        "says", severity=Severity.WARNING, field=spec.name))
            else:
                kind = "external id" if by_ext else "code"
                row.issues.append(Issue(
                    "UNKNOWN_STORE", "The store(s) specified in the file are not present in "
                    f"the system: no store with the {kind} {code!r}; import it with the "
                    "stores profile, or set replace_invalid_store in the template",
                    field=spec.name))


def _check_references(tx: Tx, actor: Actor, profile: ImportProfile, template: Template,
                      rows: Sequence[CheckedRow]) -> None:
    kind = REFERENCE_PROFILES[profile.name]
    if profile.name == "cards":
        series = {str(r.fields["series_code"]) for r in rows if r.fields.get("series_code")}
        known = tx.reference_rows("card_series", actor.tenant_id, [(s,) for s in series])
        for row in rows:
            code = row.fields.get("series_code")
            if code and (str(code),) not in known:
                row.issues.append(Issue("UNKNOWN_CARD_SERIES", f"card series {code!r} does "
                                        "not exist; import it with the card_series profile "
                                        "first", field="series_code"))
    rows = [r for r in rows if not r.rejected]
    keys = {r.number: reference_key(profile, r.fields) for r in rows}
    stored = tx.reference_rows(kind, actor.tenant_id, keys.values())
    for row in rows:
        old = stored.get(keys[row.number])
        if old is None:
            row.action = "create"
        elif template.options.disable_updates:
            row.issues.append(Issue("UPDATE_DISABLED", "this row exists already and the "
                                    "template disables updating existing records"))
        else:
            row.action = "update"


def _check_id_map(tx: Tx, actor: Actor, rows: Sequence[CheckedRow]) -> None:
    wanted = {str(r.fields["allroads_id"]) for r in rows if r.fields.get("allroads_id")}
    ents = tx.entities_by_public_id(actor.tenant_id, wanted)
    for row in rows:
        entity = ents.get(str(row.fields.get("allroads_id")))
        etype = row.fields.get("entity_type")
        if entity is None or (etype and entity.entity_type != etype):
            row.issues.append(Issue("UNKNOWN_CUSTOMER", f"there is no {etype or 'entity'} "
                                    f"{row.fields.get('allroads_id')!r} in this workspace",
                                    field="allroads_id"))
            continue
        row.target = entity.public_id
        row.action = "update"
        for name, value in row.fields.items():
            if not name.startswith("source:") or not value:
                continue
            record = tx.record(actor.tenant_id, entity.entity_type, name[len("source:"):],
                               str(value))
            if record is not None and record.entity_id != entity.id:
                other = tx.entity(record.entity_id)
                row.issues.append(Issue(
                    "EXTERNAL_ID_REGISTERED_TO_OTHER", f"{name[len('source:'):]} id "
                    f"{value!r} already belongs to {other.public_id if other else 'another'}"
                    "; merge the two first if they are one customer", field=name))
