"""Deterministic, realistic people for the benchmarks: person(i) is always the same person.

Each person is one record of one source (product, crm or support) with a unique email
(mixed case, sometimes padded: the engine normalizes it), usually a phone (E.164 or
formatted the way people type them, US and German numbers), often an external id, and a
name, sometimes a birthdate, gender, timezone and tags. Every identifier is unique per
index, so person(i) and person(j) never match each other.

    body(i)            the identify body (JSON-ready dict) of person i
    changed(i, k)      person i again with one attribute changed (version k)
    request(body)      the same body as an IdentifyRequest, for bulk_seed
"""

from __future__ import annotations

import hashlib
from typing import Any


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST = _words("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William "
         "Barbara Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa "
         "Daniel Nancy Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly "
         "Andrew Emily Paul Donna Joshua Michelle Kenneth Carol Kevin Amanda Brian Melissa "
         "George Deborah Timothy Stephanie Ronald Rebecca Jason Sharon Edward Laura Jeffrey "
         "Cynthia Ryan Dorothy Jacob Amy Gary Kathleen Nicholas Angela Eric Shirley Jonathan "
         "Emma Stephen Brenda Larry Pamela Justin Nicole Scott Anna Brandon Samantha Benjamin "
         "Katherine Samuel Christine Gregory Debra Alexander Rachel Patrick Carolyn Frank "
         "Janet Raymond Maria Jack Olivia Dennis Heather Jerry Helen Tyler Catherine Aaron "
         "Diane Jose Julie Adam Victoria Nathan Joyce Henry Lauren Zachary Kelly Douglas "
         "Christina Peter Ruth Kyle Joan Noah Virginia Ethan Judith Jeremy Evelyn Walter "
         "Hannah Christian Andrea Keith Megan Roger Cheryl Terry Jacqueline Austin Madison "
         "Sean Teresa Gerald Abigail Carl Sophia Harold Martha Dylan Sara Arthur Gloria "
         "Lawrence Janice Jordan Kathryn Jesse Ann Bryan Isabella Billy Judy Bruce Charlotte "
         "Gabriel Julia Joe Grace Logan Amber Alan Alice Juan Jean Albert Denise Willie "
         "Frances Elijah Danielle Wayne Marilyn Randy Natalie Vincent Beverly Mason Diana "
         "Roy Brittany Ralph Theresa Bobby Kayla Russell Alexis Bradley Doris Philip Lori "
         "Eugene Tiffany Lukas Leonie Jonas Mia Felix Lena Maximilian Lea Elias Hanna")
LAST = _words("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
        "Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson "
        "White Harris Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright "
        "Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera Campbell "
        "Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards "
        "Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan "
        "Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson "
        "Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo "
        "Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan "
        "Bell Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan "
        "Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes "
        "Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall "
        "Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen "
        "Freeman Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez "
        "Silva Shaw Snyder Mason Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson "
        "Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice Schmidt Garza Daniels Ferguson "
        "Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer Hawkins "
        "Mueller Schneider Fischer Weber Becker Hoffmann Schulz Koch Richter Wolf")
FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com",
             "gmx.de", "web.de", "proton.me")
COMPANY = ("acme-corp.com", "globex.io", "initech.com", "umbrella.co", "hooli.com",
           "stark-industries.com", "wayne-enterprises.com", "wonka.co.uk", "cyberdyne.ai",
           "soylent.io", "tyrell.com", "massive-dynamic.com", "vandelay.biz", "dundermifflin.com")
US_AREAS = (201, 202, 206, 212, 213, 214, 224, 267, 281, 301, 305, 310, 312, 313, 347, 404,
            408, 415, 469, 503, 512, 602, 612, 617, 646, 678, 702, 713, 718, 720, 732, 773,
            786, 805, 818, 832, 858, 917, 949, 971)
US_EXCHANGES = tuple(e for e in range(200, 1000) if e % 100 != 11 and e != 555)
DE_PREFIXES = (151, 152, 157, 160, 170, 171, 175, 176, 177, 178, 179)
TIMEZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
             "Europe/Berlin", "Europe/London")
TAGS = ("vip", "newsletter", "beta", "churn-risk", "b2b", "wholesale")
SOURCES = (("product", 70), ("crm", 20), ("support", 10))
# A bijection on [0, _SPACE) scrambles indexes into phone numbers: unique, spread out.
_US_SPACE = len(US_AREAS) * len(US_EXCHANGES) * 10_000
_MULT = 2_654_435_761


def _bits(i: int, salt: str = "") -> int:
    return int.from_bytes(hashlib.blake2b(f"{salt}{i}".encode(), digest_size=16).digest(),
                          "big")


def _us_phone(i: int) -> tuple[str, str, str]:
    x = (i * _MULT + 12_345) % _US_SPACE
    x, sub = divmod(x, 10_000)
    area, exch = divmod(x, len(US_EXCHANGES))
    return str(US_AREAS[area]), str(US_EXCHANGES[exch]), f"{sub:04d}"


def _phone(i: int, h: int) -> str:
    style = h % 10
    if style == 9:  # German mobile, E.164 or with spaces
        x = (i * _MULT + 7) % (len(DE_PREFIXES) * 100_000_000)
        prefix = DE_PREFIXES[x // 100_000_000]
        rest = f"{x % 100_000_000:08d}"
        return f"+49{prefix}{rest}" if h & 1 else f"+49 {prefix} {rest[:4]} {rest[4:]}"
    a, e, s = _us_phone(i)
    return (f"+1{a}{e}{s}", f"({a}) {e}-{s}", f"{a}-{e}-{s}", f"+1 {a}.{e}.{s}",
            f"{a} {e} {s}", f"+1{a}{e}{s}", f"1-{a}-{e}-{s}", f"+1 ({a}) {e}-{s}",
            f"{a}.{e}.{s}")[style]


def body(i: int) -> dict[str, Any]:
    """The identify body of person i."""
    h = _bits(i)
    first = FIRST[h % len(FIRST)]
    h //= len(FIRST)
    last = LAST[h % len(LAST)]
    h //= len(LAST)
    pick = h % 100
    h //= 100
    source = "product" if pick < SOURCES[0][1] else (
        "crm" if pick < SOURCES[0][1] + SOURCES[1][1] else "support")
    source_id = {"product": f"u{i:08d}", "crm": f"003{i:012d}", "support": f"{i + 100_000}"
                 }[source]
    sep = (".", "_", "", ".")[h % 4]
    h //= 4
    domain = (FREE_MAIL[h % len(FREE_MAIL)] if h % 3 else COMPANY[h % len(COMPANY)])
    h //= 100
    email = f"{first.lower()}{sep}{last.lower()}{i}@{domain}"
    if h % 5 == 0:
        email = f" {first}{sep}{last}{i}@{domain.upper()} "  # normalized by the engine
    h //= 5
    identifiers: dict[str, Any] = {"email": email}
    if h % 10 < 7:
        identifiers["phone"] = _phone(i, h >> 8)
    h //= 10
    if h % 2:
        identifiers["external_id"] = f"EXT-{i:09d}"
    h //= 2
    attributes: dict[str, Any] = {"first_name": first, "last_name": last}
    if h % 4 == 0:
        attributes = {"name": f"{first} {last}"}
    h //= 4
    if h % 5 < 2:
        month, day = 1 + (h >> 6) % 12, 1 + (h >> 10) % 28
        attributes["birthdate"] = f"{1950 + h % 55}-{month:02d}-{day:02d}"
    h //= 5
    if h % 3 == 0:
        attributes["gender"] = ("female", "male", "other")[(h >> 3) % 3]
    h //= 3
    if h % 2:
        attributes["timezone"] = TIMEZONES[(h >> 2) % len(TIMEZONES)]
    h //= 2
    if h % 5 == 0:
        attributes["tags"] = sorted({TAGS[h % len(TAGS)], TAGS[(h >> 4) % len(TAGS)]})
    h //= 5
    if source == "crm":
        attributes["lifecycle"] = ("lead", "customer", "evangelist")[h % 3]
    return {"type": "person", "source": source, "source_id": source_id,
            "identifiers": identifiers, "attributes": attributes}


def changed(i: int, k: int) -> dict[str, Any]:
    """Person i with an attribute that differs for every k (a new record version)."""
    b = body(i)
    b["attributes"] = {**b["attributes"], "last_order": f"ORD-{k:08d}"}
    return b


def request(b: dict[str, Any]) -> Any:
    """The body as an IdentifyRequest (imported late: the load generator does not need it)."""
    from allroads.domain.types import EntityType, IdentifyRequest

    return IdentifyRequest(EntityType(b["type"]), b["source"], b["source_id"],
                           b["identifiers"], b["attributes"])
