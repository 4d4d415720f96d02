"""The import pipeline end to end through `Imports`, on both databases: preview, the
Capillary error table, commit, re-import, resume after a crash, retries, replay, undo."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest

from allroads.domain.errors import Conflict
from allroads.domain.types import Actor, EntityType
from allroads.ingest.commit import commit_job
from allroads.ingest.profiles import get_profile
from allroads.ingest.service import ImportConfig, Imports
from allroads.ingest.templates import Template
from allroads.resolution.hub import Hub
from allroads.store import Store

PEOPLE = """First Name,Last Name,Mobile,Email,External Id
Tom,Sawyer,+14155550101,tom@shopmail.net,c1
Huck,Finn,+14155550102,huck@shopmail.net,c2
Becky,Thatcher,+14155550103,becky@shopmail.net,c3
"""


@pytest.fixture
def imports(store: Store, tmp_path: Path) -> Imports:
    return Imports(store, ImportConfig(upload_dir=tmp_path / "uploads", batch_size=2))


def _file(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _run(imports: Imports, actor: Actor, path: Path, *, profile: str = "people",
         source: str = "shop", commit: bool = True, **kw: Any) -> dict[str, Any]:
    job = imports.submit(actor, path, filename=path.name, profile=profile, source=source,
                         auto_commit=commit, **kw)
    return imports.process(actor, job["id"])


def _errors(view: dict[str, Any]) -> dict[int, set[str]]:
    out: dict[int, set[str]] = {}
    for e in view["first_errors"]:
        out.setdefault(e["row_number"], set()).add(e["code"])
    return out


def test_import_creates_people_and_reimport_changes_nothing(
        imports: Imports, hub: Hub, actor: Actor, tmp_path: Path) -> None:
    path = _file(tmp_path, PEOPLE)
    view = _run(imports, actor, path)
    assert view["status"] == "committed"
    assert view["counts"]["create"] == 3
    assert view["counts"]["committed"]["created"] == 3
    tom = hub.resolve(actor, EntityType.PERSON, kind="email", value="tom@shopmail.net")
    assert tom["display_name"] == "Tom Sawyer"
    assert hub.crosswalk(actor, EntityType.PERSON, tom["id"])["ids"] == {"shop": ["c1"]}
    log = hub.changelog(actor, EntityType.PERSON, tom["id"], cursor=None, limit=50)[0]
    assert {c["touchpoint"] for c in log} == {"import"}
    assert {c["import_id"] for c in log} == {view["id"]}

    again = _run(imports, actor, path)
    assert again["counts"]["unchanged"] == 3
    assert again["counts"]["committed"]["unchanged"] == 3
    assert hub.list_entities(actor, EntityType.PERSON, cursor=None, limit=10,
                             query=None)[0].__len__() == 3


def test_newer_export_updates_instead_of_duplicating(
        imports: Imports, hub: Hub, actor: Actor, tmp_path: Path) -> None:
    _run(imports, actor, _file(tmp_path, PEOPLE))
    newer = PEOPLE.replace("Tom,Sawyer", "Thomas,Sawyer")
    view = _run(imports, actor, _file(tmp_path, newer, "people2.csv"))
    assert (view["counts"]["update"], view["counts"]["unchanged"]) == (1, 2)
    tom = hub.resolve(actor, EntityType.PERSON, kind="email", value="tom@shopmail.net")
    assert tom["first_name"] == "Thomas"
    people, _ = hub.list_entities(actor, EntityType.PERSON, cursor=None, limit=10, query=None)
    assert len(people) == 3


def test_preview_lists_every_row_error(imports: Imports, actor: Actor, tmp_path: Path
                                       ) -> None:
    text = """First Name,Last Name,Mobile,Email,External Id,Date of Joining
Ok,Person,+14155550101,ok@shopmail.net,e1,2020-01-02
Bad,Email,+14155550102,not-an-email,e2,2020-01-02
Bad,Mobile,12,bm@shopmail.net,e3,2020-01-02
Dup,One,+14155550104,dup@shopmail.net,e4,2020-01-02
Dup,Two,+14155550105,dup@shopmail.net,e5,2020-01-02
R2D2,Robot,+14155550106,r2@shopmail.net,e6,2020-01-02
Late,Joiner,+14155550107,late@shopmail.net,e7,2999-01-01
No,Join,+14155550108,nj@shopmail.net,e8,
"""
    view = _run(imports, actor, _file(tmp_path, text), commit=False)
    assert view["status"] == "validated"
    assert view["counts"] == {"rows": 8, "create": 1, "update": 0, "unchanged": 0,
                              "rejected": 7, "corrected": 0}
    errors = _errors(view)
    assert errors[3] == {"INVALID_EMAIL"}
    assert errors[4] == {"INVALID_MOBILE"}
    assert errors[5] == errors[6] == {"DUPLICATE_EMAIL_IN_FILE"}
    assert errors[7] == {"NAME_SPECIAL_CHARACTERS"}
    assert errors[8] == {"INVALID_JOIN_DATE"}
    assert errors[9] == {"INVALID_JOIN_DATE"}
    dup = next(e for e in view["first_errors"] if e["row_number"] == 5)
    assert dup["related_rows"] == [6]


def test_rows_conflicting_with_stored_customers_are_rejected(
        imports: Imports, hub: Hub, actor: Actor, tmp_path: Path) -> None:
    _run(imports, actor, _file(tmp_path, PEOPLE))
    text = """First Name,Last Name,Mobile,Email,External Id
New,Person,+14155550199,tom@shopmail.net,n1
Huck,Finn,+14155550198,huck@shopmail.net,c2
"""
    view = _run(imports, actor, _file(tmp_path, text, "conflicts.csv"), commit=False,
                match_on="mobile")
    errors = _errors(view)
    # A new mobile with Tom's email; Huck matched by external id... through his email.
    assert "EMAIL_REGISTERED_TO_OTHER" in errors[2]
    assert view["counts"]["rejected"] == 2

    by_email = _run(imports, actor, _file(tmp_path, text, "by_email.csv"), commit=False,
                    match_on="email")
    errors = _errors(by_email)
    assert "MOBILE_CHANGE_NOT_ALLOWED" in errors[3]


def test_inactive_or_fraud_customers_are_not_updated(
        imports: Imports, actor: Actor, tmp_path: Path) -> None:
    _run(imports, actor, _file(tmp_path, PEOPLE))
    status = _file(tmp_path, "Mobile,Status Label\n+14155550101,Suspended\n", "status.csv")
    view = _run(imports, actor, status, profile="customer_status")
    assert view["status"] == "committed", view
    assert view["counts"]["committed"]["updated"] == 1
    update = PEOPLE.replace("Tom,Sawyer", "Tommy,Sawyer")
    again = _run(imports, actor, _file(tmp_path, update, "again.csv"), commit=False)
    assert _errors(again)[2] == {"CUSTOMER_INACTIVE_OR_FRAUD"}


def test_unknown_customer_for_status_import(imports: Imports, actor: Actor,
                                            tmp_path: Path) -> None:
    status = _file(tmp_path, "Mobile,Status Label\n+14155550111,Active\n", "status.csv")
    view = _run(imports, actor, status, profile="customer_status", commit=False)
    assert _errors(view)[2] == {"UNKNOWN_CUSTOMER"}


def test_stores_are_a_reference_for_people(imports: Imports, actor: Actor,
                                           tmp_path: Path) -> None:
    text = PEOPLE.replace("External Id\n", "External Id,Till IUN Or Store Ext Id\n", 1)
    lines = text.splitlines()
    lines[1] += ",mal"
    lines[2] += ",nowhere"
    lines[3] += ","
    path = _file(tmp_path, "\n".join(lines) + "\n")
    view = _run(imports, actor, path, commit=False)
    errors = _errors(view)
    assert errors[2] == {"UNKNOWN_STORE"} and errors[3] == {"UNKNOWN_STORE"}
    stores = _run(imports, actor, _file(tmp_path, "Store Code,Store Name\nmal,Mall Road\n",
                                        "stores.csv"), profile="stores")
    assert stores["counts"]["committed"]["created"] == 1
    again = _run(imports, actor, path, commit=False)
    assert set(_errors(again)) == {3}
    replaced = _run(imports, actor, path, commit=False,
                    template_data={"options": {"replace_invalid_store": "mal"}})
    assert replaced["counts"]["rejected"] == 0


def test_commit_resumes_after_a_crash_without_losing_or_repeating_rows(
        imports: Imports, store: Store, hub: Hub, actor: Actor, tmp_path: Path) -> None:
    names = ["Ann", "Bob", "Cid", "Dan", "Eve", "Fay", "Gus", "Hal", "Ivy"]
    rows = "".join(f"{n},Person,+1415555{i:04d},p{i}@shopmail.net,x{i}\n"
                   for i, n in enumerate(names))
    path = _file(tmp_path, "First Name,Last Name,Mobile,Email,External Id\n" + rows)
    job = imports.submit(actor, path, filename=path.name, profile="people", source="shop")
    assert imports.validate(actor, job["id"])["status"] == "validated"
    with store.write() as tx:
        row = tx.import_by_public_id(actor.tenant_id, job["id"])
        assert row is not None
        assert tx.claim_import(row.id, ("validated",), "committing", row.created_at)

    class Crash(BaseException):
        pass

    def crash_after_two_batches(p: Any) -> None:
        if p.done >= 2:
            raise Crash

    job_row = _job(store, actor, job["id"])
    act = Actor(actor.tenant_id, "test", "import", actor.region, job["id"])
    with pytest.raises(Crash):
        commit_job(store, act, job_row, get_profile("people"),
                   Template.from_dict(job_row.template), batch_size=2,
                   progress=crash_after_two_batches)
    assert _job(store, actor, job["id"]).committed_rows == 2
    view = imports.resume(actor, job["id"])
    assert view["status"] == "committed"
    assert view["counts"]["committed"]["created"] == 9
    people, _ = hub.list_entities(actor, EntityType.PERSON, cursor=None, limit=50, query=None)
    assert len(people) == 9


def test_a_failing_phase_is_retried(imports: Imports, actor: Actor, tmp_path: Path) -> None:
    path = _file(tmp_path, PEOPLE)
    job = imports.submit(actor, path, filename=path.name, profile="people", source="shop")
    imports.validate(actor, job["id"])
    calls: list[int] = []

    def flaky(p: Any) -> None:
        calls.append(p.done)
        if len(calls) == 1:
            raise RuntimeError("connection reset")

    import allroads.ingest.service as service

    service.RETRY_DELAYS = (0.0,)
    view = imports.commit(actor, job["id"], progress=flaky)
    assert view["status"] == "committed"
    assert view["counts"]["committed"]["created"] == 3


def test_failed_import_is_replayed_within_seven_days(
        imports: Imports, store: Store, actor: Actor, tmp_path: Path) -> None:
    path = _file(tmp_path, PEOPLE)
    job = imports.submit(actor, path, filename=path.name, profile="people", source="shop")
    imports.validate(actor, job["id"])
    import allroads.ingest.service as service

    service.RETRY_DELAYS = (0.0,)

    def always(p: Any) -> None:
        raise RuntimeError("disk full")

    failed = imports.commit(actor, job["id"], progress=always)
    assert failed["status"] == "failed"
    assert "after 3 attempts" in failed["error"]
    assert failed["replayable_until"] is not None
    assert imports.replay(actor, job["id"])["status"] == "committed"

    old = imports.submit(actor, path, filename=path.name, profile="people", source="crm")
    imports.validate(actor, old["id"])
    imports.commit(actor, old["id"], progress=always)
    with store.write() as tx:
        row = _job(store, actor, old["id"])
        tx.update_import(row.id, created_at=row.created_at - dt.timedelta(days=8))
    with pytest.raises(Conflict, match="7 days"):
        imports.replay(actor, old["id"])


def test_undo_reverts_the_import_except_what_changed_since(
        imports: Imports, hub: Hub, actor: Actor, tmp_path: Path) -> None:
    first = _run(imports, actor, _file(tmp_path, PEOPLE))
    newer = PEOPLE.replace("Tom,Sawyer", "Thomas,Sawyer").replace("Huck,Finn", "Huckle,Finn")
    second = _run(imports, actor, _file(tmp_path, newer + "New,One,+14155550104,"
                                        "n1@shopmail.net,c4\n", "p2.csv"))
    assert second["counts"]["committed"] == {"created": 1, "updated": 2, "merged": 0,
                                             "unchanged": 1, "failed": 0}
    # Huck changes again after the import, through another import of the same source.
    _run(imports, actor, _file(tmp_path, "First Name,Last Name,Mobile,Email,External Id\n"
                               "Huckleberry,Finn,+14155550102,huck@shopmail.net,c2\n",
                               "p3.csv"))
    undone = imports.undo(actor, second["id"])
    report = undone["undo"]
    assert undone["status"] == "undone"
    assert report["records_removed"] == 1 and report["entities_deleted"] == 1
    assert report["records_reverted"] == 1
    assert [r["source_id"] for r in report["not_reverted"]] == ["c2"]
    tom = hub.resolve(actor, EntityType.PERSON, kind="email", value="tom@shopmail.net")
    assert tom["first_name"] == "Tom"
    huck = hub.resolve(actor, EntityType.PERSON, kind="email", value="huck@shopmail.net")
    assert huck["first_name"] == "Huckleberry"
    with pytest.raises(Exception, match="no "):
        hub.resolve(actor, EntityType.PERSON, kind="email", value="n1@shopmail.net")
    with pytest.raises(Conflict):
        imports.undo(actor, second["id"])
    assert first["status"] == "committed"


def test_error_report_has_original_columns_and_escapes_formulas(
        imports: Imports, actor: Actor, tmp_path: Path) -> None:
    text = ("First Name,Last Name,Mobile,Email,External Id\n"
            "=HYPERLINK(\"x\"),Evil,+14155550101,bad-email,e1\n")
    view = _run(imports, actor, _file(tmp_path, text), commit=False)
    out = io.StringIO()
    lines = imports.error_report(actor, view["id"], out)
    assert lines >= 1
    body = out.getvalue()
    assert "'=HYPERLINK" in body
    assert "INVALID_EMAIL" in body and "row_number" in body.splitlines()[0]


def test_accounts_and_id_map_fill_the_crosswalk(
        imports: Imports, hub: Hub, actor: Actor, tmp_path: Path) -> None:
    accounts = ("Display Name,Domains,External Reference\n"
                "ACME Services,acme.com,34\n")
    view = _run(imports, actor, _file(tmp_path, accounts, "acc.csv"), profile="accounts",
                source="product")
    assert view["counts"]["committed"]["created"] == 1, view
    acme = hub.resolve(actor, EntityType.ACCOUNT, source="product", source_id="34")
    id_map = f"allroads_id,crm_id,support_id\n{acme['id']},110,2101\n"
    mapped = _run(imports, actor, _file(tmp_path, id_map, "map.csv"), profile="id_map",
                  source="manual")
    assert mapped["status"] == "committed", mapped
    walk = hub.crosswalk(actor, EntityType.ACCOUNT, acme["id"])["ids"]
    assert walk == {"product": ["34"], "crm": ["110"], "support": ["2101"]}


def test_subscriptions_and_fraud_status_land_on_the_profile(
        imports: Imports, hub: Hub, actor: Actor, tmp_path: Path) -> None:
    _run(imports, actor, _file(tmp_path, PEOPLE))
    subs = ("Mobile,Comm Channel,Priority,Sub Status\n"
            "+14155550101,email,BULK,OPTOUT\n+14155550101,mobile,TRANS,OPTIN\n")
    view = _run(imports, actor, _file(tmp_path, subs, "subs.csv"), profile="subscriptions")
    assert view["status"] == "committed", view
    tom = hub.resolve(actor, EntityType.PERSON, kind="email", value="tom@shopmail.net")
    assert tom["custom_attributes"]["subscriptions"] == {"email": {"BULK": "OPTOUT"},
                                                         "mobile": {"TRANS": "OPTIN"}}
    _run(imports, actor, _file(tmp_path, "Store Code\nstore654\n", "s.csv"), profile="stores")
    fraud = ("Mobile,Status,Reason,StoreCode\n"  # the seed's sample header
             "+14155550102,CONFIRMED,chargebacks,store654\n")
    marked = _run(imports, actor, _file(tmp_path, fraud, "fraud.csv"), profile="fraud_status")
    assert marked["counts"]["committed"]["updated"] == 1, marked
    again = _run(imports, actor, _file(tmp_path, PEOPLE.replace("Huck,", "Hucky,"), "p.csv"),
                 commit=False)
    assert _errors(again)[3] == {"CUSTOMER_INACTIVE_OR_FRAUD"}


def _job(store: Store, actor: Actor, public_id: str) -> Any:
    with store.read() as tx:
        return tx.import_by_public_id(actor.tenant_id, public_id)


def test_card_series_cards_and_coupon_redemptions(
        imports: Imports, store: Store, hub: Hub, actor: Actor, tmp_path: Path) -> None:
    _run(imports, actor, _file(tmp_path, PEOPLE))
    _run(imports, actor, _file(tmp_path, "Store Code\n1234\nmal1\n", "s.csv"), profile="stores")
    series = ("Card Series Code,Card Series Description,Card Type,Card Generation Enabled,"
              "Card Suffix,Card Prefix,Card Length,Expiry Days,Till IUN\n"
              "GOLDPHY2,Gold Card,PHYSICAL,true,2021,GOLD2,16,1000,1234\n")
    made = _run(imports, actor, _file(tmp_path, series, "series.csv"), profile="card_series")
    assert made["counts"]["committed"]["created"] == 1, made
    cards = ("Card Number,Card Series Code,Card Status Label,Till IUN,Mobile,Card External ID\n"
             "GOLDPHY2TT12311,GOLDPHY2,NOT_ISSUED,1234,+14155550101,E34334\n"
             "SILVER000001,SILVER,ACTIVE,1234,+14155550101,E1\n"
             "GOLDPHY2TT12312,GOLDPHY2,ACTIVE,1234,+14155550999,E2\n")
    view = _run(imports, actor, _file(tmp_path, cards, "cards.csv"), profile="cards")
    assert _errors(view) == {3: {"UNKNOWN_CARD_SERIES"}, 4: {"UNKNOWN_CUSTOMER"}}
    assert view["counts"]["committed"]["created"] == 1
    tom = hub.resolve(actor, EntityType.PERSON, kind="email", value="tom@shopmail.net")
    with store.read() as tx:
        card = tx.reference_rows("cards", actor.tenant_id, [("GOLDPHY2TT12311",)])
        entity = tx.entity_by_public_id(actor.tenant_id, tom["id"])
    assert entity is not None
    assert card[("GOLDPHY2TT12311",)]["entity_id"] == entity.id
    coupons = ("Voucher Series Id,Voucher Code,Till IUN,User Identification Input,"
               "Date of Redemption,Transaction Number\n"
               "5309,7003008,mal1,(415) 555-0102,12/15/2016 15:06,B-1\n")
    redeemed = _run(imports, actor, _file(tmp_path, coupons, "coupons.csv"),
                    profile="coupon_redemptions", match_on="mobile")
    assert redeemed["counts"]["committed"]["created"] == 1, redeemed
    again = _run(imports, actor, _file(tmp_path, coupons, "coupons2.csv"),
                 profile="coupon_redemptions", match_on="mobile", commit=False)
    assert again["counts"]["update"] == 1

    undone = imports.undo(actor, made["id"])
    assert undone["undo"]["references_deleted"] == 1


def test_corrections_are_warnings_apart_from_errors(imports: Imports, actor: Actor,
                                                    tmp_path: Path) -> None:
    text = ("First Name,Last Name,Mobile,Email,External Id\n"
            "Tom,Sawyer,(415) 555-0101, Tom@ShopMail.NET ,c1\n")
    view = _run(imports, actor, _file(tmp_path, text), commit=False,
                template_data={"options": {"append_country_code": True}})
    assert view["counts"]["rejected"] == 0 and view["counts"]["corrected"] == 1
    assert view["first_errors"] == []
    codes = {w["code"] for w in view["first_warnings"]}
    assert {"TRIMMED", "CASE_FOLDED", "COUNTRY_CODE_APPENDED"} <= codes
    assert {w["severity"] for w in view["first_warnings"]} == {"warning"}


def test_without_match_on_a_crm_export_needs_no_mobile_column(
        imports: Imports, hub: Hub, actor: Actor, tmp_path: Path) -> None:
    """No unique identifier chosen: rows match by whatever identifiers they carry."""
    text = "First Name,Last Name,Email\nJane,Doe,jane@acme-corp.com\n"
    view = _run(imports, actor, _file(tmp_path, text, "contacts.csv"), source="crm")
    assert view["status"] == "committed", view
    assert view["template"]["match_on"] is None
    again = _run(imports, actor, _file(tmp_path, text.replace("Jane,", "Janet,"), "c2.csv"),
                 source="support")
    assert again["counts"]["update"] == 1  # the same person, found by her email
    jane = hub.resolve(actor, EntityType.PERSON, kind="email", value="jane@acme-corp.com")
    # No id column: each source's record is keyed by the email, as identify keys it.
    assert hub.crosswalk(actor, EntityType.PERSON, jane["id"])["ids"] == {
        "crm": ["email:jane@acme-corp.com"], "support": ["email:jane@acme-corp.com"]}
    same = _run(imports, actor, _file(tmp_path, text.replace("Jane,", "Janet,"), "c3.csv"),
                source="support")
    assert same["counts"]["unchanged"] == 1


def test_a_file_without_any_customer_identifier_column_fails(
        imports: Imports, actor: Actor, tmp_path: Path) -> None:
    view = _run(imports, actor, _file(tmp_path, "Nickname\nTom\n"))
    assert view["status"] == "failed"
    assert "one of User ID or Mobile or Email or External Id" in view["error"]
