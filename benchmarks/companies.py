"""Companies as three systems hold them, for the account-matching benchmark: deterministic
for a seed (the same seed gives the same records, ids and truth, on any machine).

Each company has a canonical name ("Acme Logistics Inc."), a domain, a phone, an address and
a country. It appears in one to three systems (product, crm, support; now and then twice in
the CRM), each record a drifted copy of it:

- name: suffix dropped or written another way (Inc./Incorporated/, Inc.), generic words
  dropped (Services, Group, Solutions, ...: "ACME Services" -> "ACME"), abbreviations
  (International/Intl, Company/Co., Corporation/Corp, &/and, Technologies/Tech, ...), word
  order ("Smith & Jones" / "Jones and Smith", "The Acme Company" / "Acme Company, The"),
  case (ACME, acme), one typo now and then, stray spaces and punctuation;
- domain present or not, bare or with www., as a website (http(s)://, paths), now and then
  the company's second domain;
- phone present or not, typed in several formats, now and then the second line;
- address, city, postcode and country sometimes, the street written long or short.

Sibling companies share words and must not be linked: brand families ("Acme Logistics",
"Acme Foods", "Acme Software Services") and city families ("First National Bank of
Springfield" / "... of Shelbyville"). A record of a family member never drops the word that
tells the siblings apart (a bare "Acme" would be undecidable). Names of different
companies differ by more than one edit before the noise.

    generate(n_companies=3000, seed=1) -> Companies(records, truth, family)
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from typing import Any

SYSTEMS = ("product", "crm", "support")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_CURATED = _words(
    "Acme Globex Initech Umbrella Northwind Contoso Fabrikam Wayne Stark Pioneer Summit "
    "Evergreen Bluebird Redwood Silverline Keystone Horizon Atlas Apex Beacon Cascade Cobalt "
    "Crescent Falcon Granite Harbor Ironwood Juniper Lakeside Maple Meridian Monarch Nimbus "
    "Oakridge Orion Pinnacle Quantum Riverbend Sapphire Sequoia Sterling Tidewater Trident "
    "Vanguard Willow Zenith Aurora Bayside Blackstone Brightwater Cedar Clearview Copperfield "
    "Driftwood Eagle Emerald Fairview Foxglove Goldleaf Greenfield Hawthorne Highland "
    "Hillcrest Ivory Kingfisher Lighthouse Magnolia Millstone Moonstone Northstar Oceanic "
    "Palisade Paragon Prairie Rainier Redstone Rosewood Sandpiper Shoreline Skyline Starling "
    "Stonebridge Sunrise Thunderbird Timberline Westbrook Whitestone Wildflower Windmill"
)
_SYLLABLES = _words("ka lo mi ra ven tor lex zen qua bri dor nex sol tri vel mar cor fin gal hal "
              "pry sen tal vor bel cam dex fay gor jin")
_ENDINGS = _words("a ix on ia us ex ara ent ora ico ity")
_SURNAMES = _words(
    "Smith Jones Brown Taylor Wilson Davies Evans Thomas Johnson Roberts Walker Wright "
    "Robinson Thompson White Hughes Edwards Green Hall Wood Harris Lewis Martin Jackson Clarke "
    "Clark Turner Hill Scott Cooper Morris Ward Moore King Watson Baker Harrison Morgan Patel "
    "Young Allen Mitchell James Anderson Phillips Lee Bell Parker Davis"
)
_INDUSTRIES = _words(
    "Logistics Foods Software Systems Consulting Analytics Health Dental Energy Solar Capital "
    "Partners Labs Media Motors Construction Engineering Pharmaceuticals Apparel Furniture "
    "Insurance Realty Marine Aerospace Robotics Bakery Brewing Textiles Plastics Chemicals "
    "Printing Security Staffing Travel Fitness Farms Dairy Coffee Telecom Networks Medical "
    "Hospitality Architecture Outdoor Pet Supply Freight"
)
_GENERIC = ("Services", "Group", "Solutions", "Holdings", "Enterprises", "Industries")
_CITIES = (
    ("Springfield", "US"), ("Shelbyville", "US"), ("Riverton", "US"), ("Franklin", "US"),
    ("Greenville", "US"), ("Madison", "US"), ("Georgetown", "US"), ("Salem", "US"),
    ("Fairfield", "US"), ("Clinton", "US"), ("Arlington", "US"), ("Ashland", "US"),
    ("Burlington", "US"), ("Dover", "US"), ("Hudson", "US"), ("Kingston", "US"),
    ("Lexington", "US"), ("Milton", "US"), ("Newport", "US"), ("Oxford", "US"),
    ("Austin", "US"), ("Denver", "US"), ("Portland", "US"), ("Boston", "US"),
    ("Seattle", "US"), ("Chicago", "US"), ("Atlanta", "US"), ("Phoenix", "US"),
    ("London", "GB"), ("Manchester", "GB"), ("Leeds", "GB"), ("Bristol", "GB"),
    ("Berlin", "DE"), ("Hamburg", "DE"), ("Munich", "DE"), ("Cologne", "DE"),
)
_SUFFIXES = {  # canonical -> ways systems write it
    "Inc.": ("Inc.", "Inc", "Incorporated", ", Inc.", "INC"),
    "LLC": ("LLC", "L.L.C.", "llc", ", LLC"),
    "Corp.": ("Corp.", "Corp", "Corporation"),
    "Co.": ("Co.", "Co", "Company"),
    "Ltd": ("Ltd", "Ltd.", "Limited"),
    "PLC": ("PLC", "plc", "Public Limited Company"),
    "GmbH": ("GmbH", "GMBH", "Gesellschaft mbH"),
    "AG": ("AG",),
}
_SUFFIX_BY_COUNTRY = {"US": ("Inc.", "Inc.", "LLC", "Corp.", "Co."), "GB": ("Ltd", "Ltd", "PLC"),
                      "DE": ("GmbH", "GmbH", "AG")}
_ABBREVIATIONS = {"International": ("Intl", "Intl.", "Int'l"), "Company": ("Co.", "Co"),
                  "Corporation": ("Corp", "Corp."), "&": ("and",), "and": ("&",),
                  "Technologies": ("Tech",), "Laboratories": ("Labs",), "Brothers": ("Bros",),
                  "Associates": ("Assoc.",), "Manufacturing": ("Mfg",),
                  "Services": ("Svcs",)}
_STREETS = _words("Market Maple Oak Pine Cedar Elm Washington Lake Hill Park Main Church High "
            "Station Mill River Bridge Victoria King Queen Garden")
_STREET_TYPES = {"Street": ("St", "St.", "Street"), "Avenue": ("Ave", "Ave.", "Avenue"),
                 "Road": ("Rd", "Rd.", "Road"), "Boulevard": ("Blvd", "Boulevard"),
                 "Drive": ("Dr", "Drive"), "Lane": ("Ln", "Lane")}
_COUNTRY_FORMS = {"US": ("US", "USA", "United States", "us", "U.S."),
                  "GB": ("GB", "UK", "United Kingdom"), "DE": ("DE", "Germany", "Deutschland")}
_TLDS = {"US": (".com", ".com", ".com", ".io", ".co", ".net"), "GB": (".co.uk", ".com"),
         "DE": (".de", ".com")}
_AREA_CODES = ("212", "310", "312", "415", "503", "512", "617", "206", "303", "404", "602")

# Chance that each system holds a company, and of each field being present in a record.
_HOLD = {"product": 0.85, "crm": 0.8, "support": 0.6}
_DOMAIN = {"product": 0.8, "crm": 0.6, "support": 0.5}
_WEBSITE = {"product": 0.3, "crm": 0.5, "support": 0.2}
_PHONE = {"product": 0.4, "crm": 0.6, "support": 0.7}
_ADDRESS = {"product": 0.3, "crm": 0.7, "support": 0.3}


@dataclass(frozen=True)
class Company:
    key: str
    family: str  # the family key (its own key when it has no siblings)
    name: str  # canonical, with suffix
    tokens: tuple[str, ...]  # the name's words without suffix
    distinct: tuple[str, ...]  # words a record never drops (they tell siblings apart)
    suffix: str
    domain: str
    alt_domain: str
    phone: str  # digits with country code
    alt_phone: str
    street: tuple[str, str, str]  # number, name, type (long form)
    suite: str | None
    city: str
    postcode: str
    country: str


@dataclass
class Companies:
    records: list[dict[str, Any]]
    truth: dict[str, str]  # record id -> company key
    family: dict[str, str]  # company key -> family key
    companies: list[Company] = field(default_factory=list)


def generate(n_companies: int = 3000, seed: int = 1) -> Companies:
    """n_companies companies and their records in the three systems, shuffled."""
    rng = random.Random(f"companies-{seed}")
    companies = _companies(rng, n_companies)
    pending: list[tuple[str, Company]] = []
    for company in companies:
        systems = [s for s in SYSTEMS if rng.random() < _HOLD[s]] or [rng.choice(SYSTEMS)]
        if "crm" in systems and rng.random() < 0.05:
            systems.append("crm")  # the CRM holds it twice
        pending.extend((system, company) for system in systems)
    rng.shuffle(pending)
    counters = {s: rng.randrange(100, 5000) for s in SYSTEMS}
    records: list[dict[str, Any]] = []
    truth: dict[str, str] = {}
    for system, company in pending:
        counters[system] += rng.randrange(1, 4)
        record = _record(rng, system, company)
        record["id"] = f"{system}-{counters[system]}"
        truth[record["id"]] = company.key
        records.append(record)
    return Companies(records=records, truth=truth,
                     family={c.key: c.family for c in companies}, companies=companies)


# The companies ------------------------------------------------------------------------------
def _companies(rng: random.Random, n: int) -> list[Company]:
    names = _NameSpace()
    stems = _stems(rng)
    used_domains: set[str] = set()
    used_phones: set[str] = set()
    out: list[Company] = []
    while len(out) < n:
        key_base = len(out)
        roll = rng.random()
        city, country = rng.choice(_CITIES)
        plans: list[PlanT | None]
        if roll < 0.6:  # standalone
            plans = [_standalone(rng, stems, names)]
        elif roll < 0.9:  # brand family: shared stem, different industries
            plans = _brand_family(rng, stems, names, min(rng.randint(2, 4), n - len(out)))
        elif roll < 0.95:  # city family
            plans = _city_family(rng, names, min(rng.randint(2, 5), n - len(out)))
        else:  # partnership: "Smith & Jones"
            plans = [_partnership(rng, names)]
        kept = [p for p in plans if p is not None]
        if not kept:
            continue
        family = f"f{key_base:05d}"
        shared_city = rng.random() < 0.5
        for i, (tokens, distinct, plan_city) in enumerate(kept):
            if len(out) >= n:
                break
            key = f"c{len(out):05d}"
            c_city, c_country = (plan_city if plan_city else
                                 (city, country) if shared_city or i == 0 else
                                 rng.choice(_CITIES))
            suffix = rng.choice(_SUFFIX_BY_COUNTRY[c_country])
            domain = _domain(rng, tokens, c_country, used_domains)
            alt_domain = _domain(rng, (*tokens, "online"), c_country, used_domains)
            out.append(Company(
                key=key, family=family if len(kept) > 1 else key,
                name=f"{' '.join(tokens)} {suffix}", tokens=tokens, distinct=distinct,
                suffix=suffix, domain=domain, alt_domain=alt_domain,
                phone=_phone(rng, c_country, used_phones),
                alt_phone=_phone(rng, c_country, used_phones),
                street=(str(rng.randint(1, 9999)), rng.choice(_STREETS),
                        rng.choice(list(_STREET_TYPES))),
                suite=str(rng.randint(1, 40) * 10) if rng.random() < 0.3 else None,
                city=c_city, postcode=_postcode(rng, c_country), country=c_country))
    return out


PlanT = tuple[tuple[str, ...], tuple[str, ...], tuple[str, str] | None]


def _standalone(rng: random.Random, stems: list[str], names: _NameSpace) -> PlanT | None:
    stem = stems.pop()
    shape = rng.random()
    if shape < 0.35:
        tokens: tuple[str, ...] = (stem, rng.choice(_INDUSTRIES))
    elif shape < 0.6:
        tokens = (stem, rng.choice(_GENERIC))
    elif shape < 0.8:
        tokens = (stem, rng.choice(_INDUSTRIES), rng.choice(_GENERIC))
    elif shape < 0.9:
        tokens = (stem, "International", rng.choice(_INDUSTRIES))
    else:
        tokens = ("The", stem, "Company")
    return (tokens, (stem,), None) if names.claim(tokens) else None


def _brand_family(rng: random.Random, stems: list[str], names: _NameSpace,
                  size: int) -> list[PlanT | None]:
    stem = stems.pop()
    industries = rng.sample(_INDUSTRIES, size)
    plans: list[PlanT | None] = []
    for industry in industries:
        tokens = (stem, industry) + ((rng.choice(_GENERIC),) if rng.random() < 0.3 else ())
        plans.append((tokens, (stem, industry), None) if names.claim(tokens) else None)
    return plans


def _city_family(rng: random.Random, names: _NameSpace, size: int) -> list[PlanT | None]:
    pattern = rng.choice((("First", "National", "Bank", "of"), ("Community", "Credit", "Union",
                          "of"), ("Central", "Dental", "Clinic", "of")))
    cities = rng.sample(_CITIES, size)
    plans: list[PlanT | None] = []
    for city, country in cities:
        tokens = (*pattern, city)
        ok = names.claim(tokens)
        plans.append((tokens, tokens, (city, country)) if ok else None)
    return plans


def _partnership(rng: random.Random, names: _NameSpace) -> PlanT | None:
    a, b = rng.sample(_SURNAMES, 2)
    tokens = (a, "&", b) + ((rng.choice(("Associates", "Partners")),) if rng.random() < 0.5
                            else ())
    return (tokens, (a, b), None) if names.claim(tokens) else None


class _NameSpace:
    """Canonical names already taken, lowercased: no two companies share one."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def claim(self, tokens: tuple[str, ...]) -> bool:
        key = " ".join(tokens).lower()
        if key in self.taken:
            return False
        self.taken.add(key)
        return True


def _stems(rng: random.Random) -> list[str]:
    """Brand words, curated and invented, no two within one edit of each other (symmetric
    deletes: two words within one edit share a word-or-one-deletion)."""
    candidates = list(_CURATED)
    for a in _SYLLABLES:
        for b in _SYLLABLES:
            for end in _ENDINGS:
                candidates.append((a + b + end).capitalize())
    rng.shuffle(candidates)
    seen: set[str] = set()
    out: list[str] = []
    for word in candidates:
        lower = word.lower()
        keys = {lower} | {lower[:i] + lower[i + 1:] for i in range(len(lower))}
        if keys & seen:
            continue
        seen |= keys
        out.append(word)
    return out


def _domain(rng: random.Random, tokens: tuple[str, ...], country: str, used: set[str]) -> str:
    words = [t.lower() for t in tokens if t not in ("&", "The", "of", "and")]
    base = rng.choice(("".join(words), "-".join(words), "".join(words[:2])))
    base = "".join(ch for ch in base if ch.isalnum() or ch == "-")
    tld = rng.choice(_TLDS[country])
    domain = base + tld
    n = 2
    while domain in used:
        domain = f"{base}{n}{tld}"
        n += 1
    used.add(domain)
    return domain


def _phone(rng: random.Random, country: str, used: set[str]) -> str:
    while True:
        if country == "US":
            number = "1" + rng.choice(_AREA_CODES) + str(rng.randint(2000000, 9999999))
        elif country == "GB":
            number = "44" + rng.choice(("20", "161", "113", "117")) + str(
                rng.randint(1000000, 9999999))
        else:
            number = "49" + rng.choice(("30", "40", "89", "221")) + str(
                rng.randint(1000000, 99999999))
        if number not in used:
            used.add(number)
            return number


def _postcode(rng: random.Random, country: str) -> str:
    if country == "US":
        return f"{rng.randint(1000, 99999):05d}"
    if country == "GB":
        letters = string.ascii_uppercase
        return (f"{rng.choice(letters)}{rng.choice(letters)}{rng.randint(1, 20)} "
                f"{rng.randint(1, 9)}{rng.choice(letters)}{rng.choice(letters)}")
    return f"{rng.randint(10000, 99999)}"


# The records --------------------------------------------------------------------------------
def _record(rng: random.Random, system: str, c: Company) -> dict[str, Any]:
    domain = c.alt_domain if rng.random() < 0.03 else c.domain
    phone = c.alt_phone if rng.random() < 0.1 else c.phone
    has_address = rng.random() < _ADDRESS[system]
    return {
        "id": "",
        "source": system,
        "name": _name(rng, c),
        "domain": _domain_form(rng, domain) if rng.random() < _DOMAIN[system] else None,
        "website": _website(rng, domain) if rng.random() < _WEBSITE[system] else None,
        "phone": _phone_form(rng, phone) if rng.random() < _PHONE[system] else None,
        "address": _street_form(rng, c) if has_address else None,
        "city": c.city if rng.random() < (0.8 if has_address else 0.3) else None,
        "postcode": c.postcode if has_address and rng.random() < 0.6 else None,
        "country": (rng.choice(_COUNTRY_FORMS[c.country]) if rng.random() < 0.5 else None),
    }


def _name(rng: random.Random, c: Company) -> str:
    words = list(c.tokens)
    # dropped generic words and (for a company without siblings) now and then its industry
    words = [w for w in words if w in c.distinct or not (
        (w in _GENERIC and rng.random() < 0.4)
        or (w in _INDUSTRIES and rng.random() < 0.1 and len(words) > 1))]
    # abbreviations
    words = [rng.choice(_ABBREVIATIONS[w]) if w in _ABBREVIATIONS and rng.random() < 0.5
             else w for w in words]
    # word order
    if len(words) == 3 and words[1] in ("&", "and") and rng.random() < 0.3:
        words = [words[2], words[1], words[0]]
    suffix = ""
    if rng.random() < 0.65:
        suffix = rng.choice(_SUFFIXES[c.suffix])
    if words[0] == "The" and rng.random() < 0.4:
        words = [*words[1:], "The"]
        words[-2] += ","
        suffix = ""
    elif words[0] == "The" and rng.random() < 0.3:
        words = words[1:]
    name = " ".join(words)
    if suffix:
        name = name + suffix if suffix.startswith(",") else f"{name} {suffix}"
    roll = rng.random()
    if roll < 0.15:
        name = name.upper()
    elif roll < 0.25:
        name = name.lower()
    elif roll < 0.35:  # the brand in capitals: "ACME Services"
        first = name.split(" ", 1)
        name = " ".join([first[0].upper(), *first[1:]])
    if rng.random() < 0.12:
        name = _typo(rng, name)
    if rng.random() < 0.05:
        name = rng.choice((f" {name}", f"{name} ", name.replace(" ", "  ", 1), f"{name}."))
    return name


def _typo(rng: random.Random, text: str) -> str:
    spots = [i for i in range(1, len(text) - 1) if text[i].isalpha() and text[i - 1].isalpha()]
    if not spots:
        return text
    i = rng.choice(spots)
    kind = rng.randrange(4)
    if kind == 0:  # swap with the next
        return text[:i] + text[i + 1] + text[i] + text[i + 2:]
    if kind == 1:  # drop
        return text[:i] + text[i + 1:]
    if kind == 2:  # double
        return text[:i] + text[i] + text[i:]
    letter = rng.choice(string.ascii_lowercase)
    return text[:i] + (letter.upper() if text[i].isupper() else letter) + text[i + 1:]


def _domain_form(rng: random.Random, domain: str) -> str:
    roll = rng.random()
    if roll < 0.2:
        return "www." + domain
    if roll < 0.25:
        return domain.upper()
    return domain


def _website(rng: random.Random, domain: str) -> str:
    return rng.choice((f"https://www.{domain}/", f"http://{domain}", f"https://{domain}/about",
                       f"www.{domain}", f"https://www.{domain}/contact-us?ref=crm",
                       f"{domain}/"))


def _phone_form(rng: random.Random, digits: str) -> str:
    if digits.startswith("1"):
        a, b, c = digits[1:4], digits[4:7], digits[7:]
        return rng.choice((f"+1 {a} {b} {c}", f"({a}) {b}-{c}", f"{a}.{b}.{c}", f"{a}{b}{c}",
                           f"+1{a}{b}{c}", f"1-{a}-{b}-{c}"))
    cc = "44" if digits.startswith("44") else "49"
    national = digits[2:]
    return rng.choice((f"+{cc} {national[:3]} {national[3:]}", f"0{national}",
                       f"+{cc}{national}", f"00{cc} {national}"))


def _street_form(rng: random.Random, c: Company) -> str:
    number, name, kind = c.street
    line = f"{number} {name} {rng.choice(_STREET_TYPES[kind])}"
    if c.suite and rng.random() < 0.7:
        line += rng.choice((f", Suite {c.suite}", f" Ste {c.suite}", f" #{c.suite}"))
    if rng.random() < 0.1:
        line = line.upper()
    return line
