"""A realistic, dirty loyalty-customers CSV for the import benchmark, and what importing it
must give.

    python benchmarks/import_data.py --rows 100000                  # benchmarks/data/...
    python benchmarks/import_data.py --rows 1000000 --seed 7 --gzip --out /tmp/people.csv.gz

The columns are those of a Capillary loyalty-customers export (COLUMNS). Mobiles are US
numbers (90%) and German mobiles (10%), written the many ways people type them: E.164,
international with spaces, dashes or parentheses, 00-prefixed, and US numbers without a
country code. The tenant's default region is therefore US (REGION): a national number is
read as a US number. Row r is person r of benchmarks/people.py (name, email); the seed picks
each row's kind, its formats, points, dates and stores. Each row is one of:

    new        (~83%) a person not stored yet: must be created
    existing   (~10%) a person already stored (same mobile and email, the stored record from
                     `crm` or an earlier `shop` export): must be matched, not created
    invalid    (~5%)  an invalid email (half), mobile (~40%) or both: must be rejected
    duplicate  (~2%)  repeats the mobile, email or external id of an earlier new row (or that
                     whole person again, reformatted): both rows must be rejected (Capillary:
                     "all records would be rejected"), so ~4% of rows are rejected this way

Files, for OUT = name.csv (or name.csv.gz):
    name.csv[.gz]          the CSV (UTF-8, comma, header row)
    name.existing.jsonl.gz the stored people, one identify body a line, for bulk_seed
    name.manifest.json     the parameters and the true counts (MANIFEST_COUNTS)

    generate(rows, out, seed=1) -> manifest        write the three files
    existing_requests(path)                         the stored people as IdentifyRequests
    sidecars(out) -> (manifest, existing)           the paths beside a CSV
    open_csv(path)                                  the CSV as text (gzip or not)
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from people import _MULT, DE_PREFIXES, _bits, _us_phone, body, request

HERE = Path(__file__).resolve().parent
VERSION = 2  # bump when the same (rows, seed) would give different files
COLUMNS = ("First Name", "Last Name", "Mobile", "Email", "External Id",
           "Till IUN Or Store Ext Id", "Registration Date", "Loyalty Points", "Slab Name")
REGION = "US"
TENANT = "bench"
SOURCE = "shop"
STORES = tuple(f"{city}{n:02d}" for city in ("NYC", "LAX", "CHI", "HOU", "PHX", "SEA", "MIA",
                                             "BOS", "BER", "MUC") for n in range(1, 5))
SLABS = (("Bronze", 50), ("Silver", 28), ("Gold", 14), ("Platinum", 3), ("", 5))
# What the manifest counts; expected_created + expected_existing + expected_rejected = rows.
MANIFEST_COUNTS = ("rows", "new", "existing", "invalid", "invalid_email", "invalid_mobile",
                   "duplicate_rows", "duplicate_groups", "rows_in_duplicate_groups",
                   "expected_created", "expected_existing", "expected_rejected")
_POOL = 20_000  # earlier new rows a duplicate may repeat (bounded: the generator streams)
_FIRST_DAY = dt.datetime(2016, 1, 1)
_DAYS = (dt.datetime(2025, 10, 31) - _FIRST_DAY).days


@dataclass(frozen=True)
class Shares:
    """The share of rows of each kind (the rest are new people)."""

    existing: float = 0.10
    invalid: float = 0.05
    duplicate: float = 0.02


# Phones --------------------------------------------------------------------------------------
def mobile_parts(i: int) -> tuple[str, str, str, str]:
    """Person i's mobile: (country code, then three groups of digits). 10% German."""
    if _bits(i, "mobile") % 10 == 0:
        x = (i * _MULT + 7) % (len(DE_PREFIXES) * 100_000_000)
        rest = f"{x % 100_000_000:08d}"
        return "49", str(DE_PREFIXES[x // 100_000_000]), rest[:4], rest[4:]
    return ("1", *_us_phone(i))


def e164(parts: tuple[str, str, str, str]) -> str:
    return "+" + "".join(parts)


US_STYLES = ("+1{a}{e}{s}", "+1{a}{e}{s}", "+1 {a} {e} {s}", "+1 ({a}) {e}-{s}",
             "+1-{a}-{e}-{s}", "+1 {a}-{e}-{s}", "({a}) {e}-{s}", "({a}) {e}-{s}",
             "{a}-{e}-{s}", "{a}-{e}-{s}", "{a} {e} {s}", "{a}.{e}.{s}", "{a}{e}{s}",
             "1-{a}-{e}-{s}", "1 ({a}) {e}-{s}", "001 {a} {e} {s}", "001{a}{e}{s}")
DE_STYLES = ("+49{a}{e}{s}", "+49 {a} {e}{s}", "+49 {a} {e} {s}", "+49-{a}-{e}{s}",
             "0049 {a} {e}{s}", "0049{a}{e}{s}", "(+49) {a} {e} {s}")


def style_family(style: str) -> str:
    """How a style writes the number: e164, international, 00 (prefix) or national."""
    if style.startswith("+") and " " not in style and "-" not in style:
        return "e164"
    if style.startswith(("+", "(+")):
        return "international"
    if style.startswith("00"):
        return "00"
    return "national"


def format_mobile(parts: tuple[str, str, str, str], style: str) -> str:
    _, a, e, s = parts
    return style.format(a=a, e=e, s=s)


def pick_style(parts: tuple[str, str, str, str], rng: random.Random) -> str:
    return rng.choice(US_STYLES if parts[0] == "1" else DE_STYLES)


def invalid_mobile(parts: tuple[str, str, str, str], rng: random.Random) -> str:
    """A mobile no normalizer accepts (REGION US), in one of the ways real exports get it."""
    cc, a, e, s = parts
    how = rng.randrange(6)
    if how == 0:  # a digit or two lost
        return f"({a}) {e}-{s[:rng.choice((2, 3))]}" if cc == "1" else f"+49 {a} {e}"
    if how == 1:  # a digit too many
        return f"+{cc} {a} {e} {s}{rng.randrange(10)}"
    if how == 2:  # the area code lost (7 digits)
        return f"{e[-3:]}-{s}" if cc == "1" else f"{s}{e[:3]}"
    if how == 3 and cc == "1":  # an area code that does not exist (never 0xx or 1xx)
        return f"({rng.choice('01')}{a[1:]}) {e}-{s}"
    if how in (3, 4):  # a German mobile without its country code, read as a US number
        return f"0{a} {e}{s}" if cc == "49" else f"0151 {e}{s}"
    return rng.choice(("N/A", "n/a", "none", "unknown", "TBD", "not given", "-", "x"))


# Emails --------------------------------------------------------------------------------------
def invalid_email(email: str, rng: random.Random) -> str:
    """An email no validator accepts, the way typos and exports break them."""
    local, _, domain = email.strip().rpartition("@")
    name, _, tld = domain.rpartition(".")
    how = rng.randrange(8)
    return (f"{local}{domain}",             # no @
            f"{local}@{domain.split('.')[0]}",  # no top-level domain (x@shop.co.uk -> x@shop)
            f"{local}@@{domain}",            # doubled @
            f"{local}@{name},{tld}",         # comma for dot
            f"{local.replace('.', ' ', 1) if '.' in local else local[:3] + ' ' + local[3:]}"
            f"@{domain}",                    # a space inside
            f"{local}@{name}..{tld}",        # doubled dot
            f"{local}@{domain}.",            # trailing dot
            f"@{domain}")[how]               # no local part


def recase_email(email: str, rng: random.Random) -> str:
    """The same address written differently (a normalizer folds it back)."""
    value = email.strip()
    how = rng.randrange(3)
    return (value.upper(), value.lower(), f" {value} ")[how]


# Rows ----------------------------------------------------------------------------------------
@dataclass
class Person:
    """What a row says about one person (before any dirt)."""

    first: str
    last: str
    email: str
    mobile: tuple[str, str, str, str]
    external_id: str
    store: str
    registered: str
    points: int
    slab: str


def person(i: int, rng: random.Random) -> Person:
    b = body(i)
    attrs = b["attributes"]
    first, last = (attrs["first_name"], attrs["last_name"]) if "first_name" in attrs else \
        attrs["name"].split(" ", 1)
    day = _FIRST_DAY + dt.timedelta(days=rng.randrange(_DAYS), seconds=rng.randrange(86_400))
    return Person(first, last, b["identifiers"]["email"], mobile_parts(i),
                  f"LC{i:08d}" if rng.random() < 0.92 else "", rng.choice(STORES),
                  day.strftime("%Y-%m-%d %H:%M:%S"), int(rng.expovariate(1 / 900)),
                  rng.choices([s for s, _ in SLABS], [w for _, w in SLABS])[0])


def dirty_name(name: str, rng: random.Random) -> str:
    x = rng.random()
    if x < 0.03:
        return name.upper()
    if x < 0.06:
        return name.lower()
    if x < 0.08:
        return f" {name} "
    return name


def row(p: Person, mobile: str, email: str, rng: random.Random) -> list[str]:
    return [dirty_name(p.first, rng), dirty_name(p.last, rng), mobile, email, p.external_id,
            p.store, p.registered, str(p.points), p.slab]


def stored_body(i: int, p: Person, rng: random.Random) -> dict[str, Any]:
    """The identify body of the stored copy of a person: from the CRM (60%) or from an earlier
    export of the shop (40%: same external id, fewer points, maybe a lower slab)."""
    cc, a, e, s = p.mobile
    phone = e164(p.mobile) if rng.random() < 0.5 else f"+{cc} {a} {e} {s}"
    identifiers: dict[str, Any] = {"email": p.email.strip().lower(), "phone": phone}
    attributes: dict[str, Any] = {"first_name": p.first, "last_name": p.last}
    if rng.random() < 0.6 or not p.external_id:
        return {"type": "person", "source": "crm", "source_id": f"003{i:012d}",
                "identifiers": identifiers, "attributes": attributes}
    identifiers["external_id"] = p.external_id
    attributes.update(loyalty_points=max(0, p.points - rng.randrange(1, 500)),
                      slab_name=p.slab or "Bronze", store_code=p.store)
    return {"type": "person", "source": SOURCE, "source_id": p.external_id,
            "identifiers": identifiers, "attributes": attributes}


def sidecars(out: Path) -> tuple[Path, Path]:
    """The manifest and the stored-people file beside the CSV `out`."""
    stem = out.name.removesuffix(".gz").removesuffix(".csv")
    return out.with_name(f"{stem}.manifest.json"), out.with_name(f"{stem}.existing.jsonl.gz")


def open_csv(path: Path) -> IO[str]:
    """The CSV as text, gunzipped when its name ends in .gz."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def _open_out(path: Path) -> IO[str]:
    if path.name.endswith(".gz"):
        return gzip.open(path, "wt", encoding="utf-8", newline="", compresslevel=5)
    return path.open("w", encoding="utf-8", newline="")


def generate(rows: int, out: Path, *, seed: int = 1, shares: Shares | None = None
             ) -> dict[str, Any]:
    """Write the CSV `out` (gzip when it ends in .gz), its stored people and its manifest;
    the manifest (also returned) holds the true counts."""
    shares = shares or Shares()
    if rows < 1:
        raise ValueError("rows must be at least 1")
    if shares.existing + shares.invalid + shares.duplicate >= 1:
        raise ValueError("the shares of existing, invalid and duplicate rows must be below 1")
    rng = random.Random(seed)
    manifest_path, existing_path = sidecars(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    counts: Counter[str] = Counter()
    formats: Counter[str] = Counter()
    dup_fields: Counter[str] = Counter()
    stored_sources: Counter[str] = Counter()
    pool: list[tuple[int, Person]] = []  # new rows that no duplicate repeats yet
    t0 = time.perf_counter()
    cut_existing = shares.existing
    cut_invalid = cut_existing + shares.invalid
    cut_duplicate = cut_invalid + shares.duplicate
    with _open_out(out) as f, gzip.open(existing_path, "wt", encoding="utf-8",
                                        compresslevel=5) as stored:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for i in range(rows):
            x = rng.random()
            p = person(i, rng)
            style = pick_style(p.mobile, rng)
            mobile = format_mobile(p.mobile, style)
            if x < cut_existing:
                counts["existing"] += 1
                formats[style_family(style)] += 1
                doc = stored_body(i, p, rng)
                stored_sources[doc["source"]] += 1
                stored.write(json.dumps(doc, separators=(",", ":")) + "\n")
                p.points += rng.randrange(0, 300)
                writer.writerow(row(p, mobile, p.email, rng))
            elif x < cut_invalid:
                counts["invalid"] += 1
                y = rng.random()
                email = p.email
                if y < 0.6:
                    counts["invalid_email"] += 1
                    email = invalid_email(p.email, rng)
                if y >= 0.5:
                    counts["invalid_mobile"] += 1
                    mobile = invalid_mobile(p.mobile, rng)
                else:
                    formats[style_family(style)] += 1
                writer.writerow(row(p, mobile, email, rng))
            elif x < cut_duplicate and pool:
                j = rng.randrange(len(pool))
                pool[j], pool[-1] = pool[-1], pool[j]
                _, original = pool.pop()
                counts["duplicate_rows"] += 1
                counts["duplicate_groups"] += 1
                field = rng.choices(("person", "mobile", "email", "external_id"),
                                    (35, 30, 20, 15))[0]
                if field == "external_id" and not original.external_id:
                    field = "mobile"
                dup_fields[field] += 1
                if field == "person":  # the same customer exported twice
                    p = original
                if field in ("person", "mobile"):  # reformatted, as another export would
                    style = pick_style(original.mobile, rng)
                    mobile = format_mobile(original.mobile, style)
                email = recase_email(original.email, rng) if field in ("person", "email") \
                    else p.email
                if field == "external_id":
                    p.external_id = original.external_id
                formats[style_family(style)] += 1
                writer.writerow(row(p, mobile, email, rng))
            else:
                counts["new"] += 1
                formats[style_family(style)] += 1
                if len(pool) < _POOL:
                    pool.append((i, p))
                else:
                    pool[rng.randrange(_POOL)] = (i, p)
                writer.writerow(row(p, mobile, p.email, rng))
    counts["rows"] = rows
    counts["rows_in_duplicate_groups"] = 2 * counts["duplicate_groups"]
    counts["expected_created"] = counts["new"] - counts["duplicate_groups"]
    counts["expected_existing"] = counts["existing"]
    counts["expected_rejected"] = counts["invalid"] + counts["rows_in_duplicate_groups"]
    manifest: dict[str, Any] = {
        "generator": "benchmarks/import_data.py", "version": VERSION, "seed": seed,
        "shares": asdict(shares), "columns": list(COLUMNS), "region": REGION,
        "tenant": TENANT, "source": SOURCE, "stores": list(STORES),
        "files": {"csv": out.name, "existing": existing_path.name,
                  "csv_bytes": out.stat().st_size},
        "counts": {k: counts[k] for k in MANIFEST_COUNTS},
        "duplicates_by_field": dict(sorted(dup_fields.items())),
        "existing_by_source": dict(sorted(stored_sources.items())),
        "mobile_formats": dict(sorted(formats.items())),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def existing_requests(path: Path) -> Iterator[Any]:
    """The stored people of a generated file, as IdentifyRequests for bulk_seed."""
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            yield request(json.loads(line))


def default_out(rows: int, seed: int, gz: bool) -> Path:
    return HERE / "data" / f"import_{rows}_s{seed}.csv{'.gz' if gz else ''}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gzip", action="store_true", help="write name.csv.gz")
    ap.add_argument("--out", type=Path, help="the CSV to write (default benchmarks/data/"
                    "import_<rows>_s<seed>.csv[.gz])")
    ap.add_argument("--existing", type=float, default=Shares.existing)
    ap.add_argument("--invalid", type=float, default=Shares.invalid)
    ap.add_argument("--duplicate", type=float, default=Shares.duplicate)
    args = ap.parse_args()
    out = args.out or default_out(args.rows, args.seed, args.gzip)
    manifest = generate(args.rows, out, seed=args.seed,
                        shares=Shares(args.existing, args.invalid, args.duplicate))
    print(json.dumps({"csv": str(out), **manifest["counts"],
                      "seconds": manifest["seconds"]}, indent=2))


if __name__ == "__main__":
    main()
