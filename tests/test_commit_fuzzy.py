"""Fuzzy matching at import commit, on both databases: a new customer in the file that looks
like a stored one (or like an earlier row of the same file) is linked or queued for review
as identify would do it; `skip_fuzzy_matching` writes every new customer as is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from allroads.domain.types import Actor, EntityType, IdentifyRequest, utcnow
from allroads.ingest.service import ImportConfig, Imports
from allroads.resolution.hub import Hub
from allroads.resolution.matching import incremental
from allroads.store import Store
from allroads.store.schema import match_candidates

# Names only (the people profile has no birthdate): with the default thresholds a name alone
# is never enough, so the tenant's thresholds are lowered: "Jonathan Smith" against the
# stored Jonathan Smith scores about 0.14 (link), "Jonathon Smith" about 0.014 (review).
LINK, REVIEW = 0.1, 0.01
PEOPLE = """First Name,Last Name,External Id,Email,Mobile
Jonathan,Smith,s1,,
Jonathon,Smith,,jsmith@example.net,
Mary,Smith,s3,,
Priya,Raman,,priya@example.org,
Priya,Raman,,,+14155550177
Ravi,Raman,r1,,
Ravi,Raman,r2,,
"""


def _lower_thresholds(store: Store, actor: Actor) -> None:
    with store.write() as tx:
        tx.put_match_settings(actor.tenant_id, "person", parameters=None, link_threshold=LINK,
                              review_threshold=REVIEW, trained_at=None, now=utcnow())
    incremental.MODELS.invalidate()


def _import(store: Store, actor: Actor, tmp_path: Path, batch_size: int,
            **template: Any) -> dict[str, Any]:
    imports = Imports(store, ImportConfig(upload_dir=tmp_path / "uploads",
                                          batch_size=batch_size))
    path = tmp_path / "people.csv"
    path.write_text(PEOPLE, encoding="utf-8")
    job = imports.submit(actor, path, filename=path.name, profile="people", source="shop",
                         auto_commit=True, template_data={"options": template})
    view: dict[str, Any] = imports.process(actor, job["id"])
    return view


def _person(hub: Hub, actor: Actor, source_id: str) -> dict[str, Any]:
    found: dict[str, Any] = hub.resolve(actor, EntityType.PERSON, source="shop",
                                        source_id=source_id)
    return found


def _open_pairs(store: Store, actor: Actor) -> int:
    with store.engine.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(match_candidates).where(
            match_candidates.c.tenant_id == actor.tenant_id,
            match_candidates.c.status == "open")).scalar_one())


@pytest.mark.parametrize("batch_size", [1000, 2])
def test_commit_links_or_queues_fuzzy_matches(hub: Hub, actor: Actor, tmp_path: Path,
                                             batch_size: int) -> None:
    _lower_thresholds(hub.store, actor)
    stored = hub.identify(actor, IdentifyRequest(
        EntityType.PERSON, "crm", "c1", {"email": "js@acme.com"},
        {"first_name": "Jonathan", "last_name": "Smith"}))
    assert stored.id is not None
    view = _import(hub.store, actor, tmp_path, batch_size)
    assert view["status"] == "committed", view
    committed = {k: n for k, n in view["counts"]["committed"].items() if n}
    assert committed == {"created": 5, "updated": 2}  # two rows joined a customer
    # s1: linked to the stored customer, with each field's contribution as evidence
    s1 = _person(hub, actor, "s1")
    assert s1["id"] == stored.id
    assert hub.crosswalk(actor, EntityType.PERSON, stored.id)["ids"] == {
        "crm": ["c1"], "shop": ["s1"]}
    why = hub.explain(actor, EntityType.PERSON, stored.id)
    assert "fuzzy" in repr(why)
    # s2: a customer of its own, its pair with Jonathan Smith in the review queue
    s2 = hub.resolve(actor, EntityType.PERSON, kind="email", value="jsmith@example.net")
    assert s2["id"] != stored.id
    assert _open_pairs(hub.store, actor) == 1
    # s3 matches nobody
    assert _person(hub, actor, "s3")["id"] not in (stored.id, s2["id"])
    # the second Priya Raman is the first (an earlier row of the same file)...
    priya = hub.resolve(actor, EntityType.PERSON, kind="email", value="priya@example.org")
    assert hub.resolve(actor, EntityType.PERSON, kind="phone",
                       value="+14155550177")["id"] == priya["id"]
    # ... but two Ravi Ramans with different external ids are two people: protection
    # refuses the fuzzy link (a conflicting trusted identifier)
    assert _person(hub, actor, "r1")["id"] != _person(hub, actor, "r2")["id"]


def test_skip_fuzzy_matching_writes_each_new_customer(hub: Hub, actor: Actor,
                                                      tmp_path: Path) -> None:
    _lower_thresholds(hub.store, actor)
    stored = hub.identify(actor, IdentifyRequest(
        EntityType.PERSON, "crm", "c1", {"email": "js@acme.com"},
        {"first_name": "Jonathan", "last_name": "Smith"}))
    view = _import(hub.store, actor, tmp_path, 1000, skip_fuzzy_matching=True)
    assert {k: n for k, n in view["counts"]["committed"].items() if n} == {"created": 7}
    ids = {_person(hub, actor, f"s{i}")["id"] for i in (1, 3)}
    assert len(ids) == 2 and stored.id not in ids
    assert _open_pairs(hub.store, actor) == 0
