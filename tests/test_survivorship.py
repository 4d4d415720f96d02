"""Survivorship's provenance: each value of a list field is credited to the record it came from."""

from __future__ import annotations

from allroads.domain.types import EntityType
from allroads.resolution.survivorship import SourceRecord, golden_record


def test_each_value_of_a_list_is_credited_to_its_own_source() -> None:
    crm = SourceRecord(1, "crm", "003", 90, 100.0, {"tags": ["vip"]},
                       {"email": ["jane@acme.com"]})
    desk = SourceRecord(2, "support", "u-7", 50, 200.0, {"tags": ["vip", "churn-risk"]},
                        {"email": ["jane@acme.com", "jane.doe@gmail.com"]})
    golden = golden_record(EntityType.PERSON, "per_1", [desk, crm])
    assert golden.data["identifiers"]["email"] == ["jane@acme.com", "jane.doe@gmail.com"]
    emails = golden.provenance["identifiers.email"]
    assert emails["source"] == "crm"  # the field's first value
    assert [(v["value"], v["source"], v["source_id"], v["record"]) for v in emails["values"]] \
        == [("jane@acme.com", "crm", "003", 1), ("jane.doe@gmail.com", "support", "u-7", 2)]
    tags = golden.provenance["tags"]
    assert [(v["value"], v["source"]) for v in tags["values"]] \
        == [("vip", "crm"), ("churn-risk", "support")]


def test_a_single_valued_field_has_no_values_list() -> None:
    rec = SourceRecord(1, "crm", "003", 90, 100.0, {"area": "Lyon"}, {})
    assert golden_record(EntityType.PERSON, "per_1", [rec]).provenance["area"] \
        == {"source": "crm", "source_id": "003", "record": 1}
