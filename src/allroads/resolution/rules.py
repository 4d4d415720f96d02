"""Match rules as data, per tenant and entity type.

A `RuleSet` says, per identifier kind, whether it identifies (unique), how many values one
entity may hold before a different value means "another customer" (max_per_entity), how
much it is trusted (priority), which values never identify (blocked values and patterns,
and the built-in blocks a tenant may switch off: phones of one repeated digit, free-mail
domains), and how many entities may share a value before it stops identifying
(shared_limit). It also says, per touchpoint, what to do when one request points at several
entities (policy).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property, lru_cache
from typing import Any

from allroads.domain.errors import InvalidInput
from allroads.domain.normalize.phone import is_repeated_digit_phone
from allroads.domain.normalize.website import is_free_mail_domain
from allroads.domain.types import EntityType, Policy


@dataclass(frozen=True)
class IdentifierRule:
    kind: str
    unique: bool = True
    max_per_entity: int = 10
    priority: int = 50
    blocked_values: tuple[str, ...] = ()
    blocked_patterns: tuple[str, ...] = ()
    # Built-in blocks, each for the one kind whose values it can read (BUILT_IN_BLOCKS).
    block_repeated_digits: bool = False
    block_free_mail: bool = False
    shared_limit: int = 1

    def blocks(self) -> tuple[Any, ...]:
        """Everything that decides which of this kind's values are blocked."""
        return (self.blocked_values, self.blocked_patterns, self.block_repeated_digits,
                self.block_free_mail)

    @cached_property
    def _patterns(self) -> tuple[re.Pattern[str], ...]:
        return tuple(re.compile(p) for p in self.blocked_patterns)

    def blocked_reason(self, value: str) -> str | None:
        """Why this normalized value may not identify anyone, or None."""
        if value in self.blocked_values:
            return f"{value!r} is on the blocked list for {self.kind}"
        for pattern in self._patterns:
            if pattern.search(value):
                return f"{value!r} matches the blocked pattern {pattern.pattern!r}"
        if self.block_repeated_digits and _repeated_digit_phone(value):
            return f"{value!r} is one repeated digit"
        if self.block_free_mail and is_free_mail_domain(value):
            return f"{value!r} is a free-mail domain: it never identifies a company"
        return None


# Checked for every phone of every request, often several times: parse each number once.
_repeated_digit_phone = lru_cache(maxsize=100_000)(is_repeated_digit_phone)

# Each built-in block: the one kind it applies to (only an E.164 phone has a national
# number to read, only a domain can be a free-mail domain), and what it blocks, in words.
BUILT_IN_BLOCKS = {"block_repeated_digits": ("phone", "one repeated digit"),
                   "block_free_mail": ("domain", "free-mail domains")}
_SETTINGS = tuple(f.name for f in fields(IdentifierRule) if f.name != "kind")


def _rule(kind: str, **kw: Any) -> IdentifierRule:
    return IdentifierRule(kind=kind, **kw)


_ROLE_MAILBOXES = ("info", "noreply", "no-reply", "donotreply", "do-not-reply", "test",
                   "admin", "support", "sales", "contact", "hello", "office", "billing")
_EMAIL_BLOCKS = (rf"^({'|'.join(re.escape(m) for m in _ROLE_MAILBOXES)})@",
                 r"@(example\.(com|org|net)|test\.com|invalid)$")

PERSON_DEFAULTS: tuple[IdentifierRule, ...] = (
    _rule("source_id", max_per_entity=10_000, priority=100),
    _rule("external_id", max_per_entity=1, priority=100),
    _rule("user_ref", max_per_entity=1, priority=100),
    _rule("card_number", max_per_entity=20, priority=90),
    _rule("email", max_per_entity=10, priority=80, blocked_patterns=_EMAIL_BLOCKS),
    _rule("phone", max_per_entity=10, priority=70,
          blocked_values=("+12025550100", "+18005550199"), block_repeated_digits=True),
    _rule("device_id", max_per_entity=50, priority=30, shared_limit=3),
    _rule("push_token", max_per_entity=50, priority=30),
    _rule("app_install_id", max_per_entity=50, priority=30),
    # A person's org_ref names the account they belong to; it does not identify the person.
    _rule("org_ref", unique=False, max_per_entity=10, priority=10),
    _rule("domain", unique=False, max_per_entity=10, priority=10, block_free_mail=True),
)

ACCOUNT_DEFAULTS: tuple[IdentifierRule, ...] = (
    _rule("source_id", max_per_entity=10_000, priority=100),
    _rule("external_id", max_per_entity=1, priority=100),
    _rule("org_ref", max_per_entity=1, priority=100),
    _rule("domain", max_per_entity=20, priority=60, shared_limit=1, block_free_mail=True),
    _rule("phone", unique=False, max_per_entity=10, priority=20, block_repeated_digits=True),
)

DEFAULT_POLICIES: dict[str, Policy] = {
    "api": Policy.MERGE, "widget": Policy.MERGE, "channel": Policy.MERGE,
    "import": Policy.REJECT, "ui": Policy.REJECT, "cli": Policy.MERGE, "demo": Policy.MERGE,
}


@dataclass(frozen=True)
class RuleSet:
    entity_type: EntityType
    identifiers: dict[str, IdentifierRule]
    policies: dict[str, Policy] = field(default_factory=lambda: dict(DEFAULT_POLICIES))
    # Kinds sent that have no rule: they are stored and shown, but never match.
    default_custom: IdentifierRule = IdentifierRule("custom", unique=True, max_per_entity=10,
                                                    priority=40)

    def rule(self, kind: str) -> IdentifierRule:
        return self.identifiers.get(kind) or IdentifierRule(
            kind, unique=self.default_custom.unique,
            max_per_entity=self.default_custom.max_per_entity,
            priority=self.default_custom.priority)

    def policy(self, touchpoint: str) -> Policy:
        return self.policies.get(touchpoint, Policy.MERGE)

    def without_blocked(self, identifiers: Mapping[str, Any]) -> dict[str, Any]:
        """A stored record's identifiers (kind -> value or values) with every blocked value
        left out: what matching may read of them, as identify reads a record it receives
        (a blocked value such as info@... says nothing of anyone)."""
        out: dict[str, Any] = {}
        for kind, values in identifiers.items():
            rule = self.rule(kind)
            if isinstance(values, list):
                out[kind] = [v for v in values
                             if not (isinstance(v, str) and rule.blocked_reason(v))]
            elif not (isinstance(values, str) and rule.blocked_reason(values)):
                out[kind] = values
        return out

    def kinds_blocked_differently(self, other: RuleSet) -> list[str]:
        """The identifier kinds whose values `other` blocks otherwise than these rules do
        (a blocked value or pattern added or removed, a built-in block switched)."""
        kinds = sorted(self.identifiers.keys() | other.identifiers.keys())
        return [k for k in kinds if self.rule(k).blocks() != other.rule(k).blocks()]

    @classmethod
    def default(cls, entity_type: EntityType) -> RuleSet:
        rules = PERSON_DEFAULTS if entity_type is EntityType.PERSON else ACCOUNT_DEFAULTS
        return cls(entity_type, {r.kind: r for r in rules})

    def to_dict(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type.value,
            "identifiers": {k: {key: (list(v) if isinstance(v, tuple) else v)
                                for key, v in asdict(r).items() if key != "kind"}
                            for k, r in sorted(self.identifiers.items())},
            "policies": {k: v.value for k, v in sorted(self.policies.items())},
        }

    @classmethod
    def from_dict(cls, entity_type: EntityType, data: dict[str, Any]) -> RuleSet:
        """Build from stored or user-sent data; every problem is reported at once. A setting
        not given keeps its default, so a rule set stored before the setting existed loads."""
        base = cls.default(entity_type)
        problems = [f"{key}: unknown setting (use identifiers and policies)"
                    for key in data if key not in ("identifiers", "policies", "entity_type")]
        rules = dict(base.identifiers)
        for kind, spec in (data.get("identifiers") or {}).items():
            if not isinstance(spec, dict):
                problems.append(f"identifiers.{kind}: expected an object")
                continue
            current = asdict(rules.get(kind) or base.rule(kind))
            current["kind"] = kind
            for key, value in spec.items():
                if key not in current or key == "kind":
                    problems.append(f"identifiers.{kind}.{key}: unknown setting (use one of "
                                    f"{', '.join(_SETTINGS)})")
                    continue
                current[key] = value
            for key in ("max_per_entity", "priority", "shared_limit"):
                if not isinstance(current[key], int) or current[key] < 1:
                    problems.append(f"identifiers.{kind}.{key}: must be a positive integer")
            for key in ("blocked_values", "blocked_patterns"):
                if not isinstance(current[key], list | tuple) or not all(
                        isinstance(v, str) for v in current[key]):
                    problems.append(f"identifiers.{kind}.{key}: must be a list of strings")
                    current[key] = ()
            for key in ("unique", *BUILT_IN_BLOCKS):
                if not isinstance(current[key], bool):
                    problems.append(f"identifiers.{kind}.{key}: must be true or false")
            for key, (only, _) in BUILT_IN_BLOCKS.items():
                if current[key] is True and kind != only:
                    problems.append(f"identifiers.{kind}.{key}: only {only} values can be "
                                    f"checked this way; set it on identifiers.{only}")
            for pattern in current["blocked_patterns"]:
                try:
                    re.compile(pattern)
                except (re.error, TypeError) as exc:
                    problems.append(f"identifiers.{kind}.blocked_patterns: {pattern!r} is not "
                                    f"a valid regular expression ({exc})")
            current["blocked_values"] = tuple(current["blocked_values"])
            current["blocked_patterns"] = tuple(current["blocked_patterns"])
            rules[kind] = IdentifierRule(**current)
        policies = dict(base.policies)
        for touchpoint, value in (data.get("policies") or {}).items():
            try:
                policies[touchpoint] = Policy(value)
            except ValueError:
                problems.append(f"policies.{touchpoint}: {value!r} is not one of "
                                "reject, review, merge")
        if problems:
            raise InvalidInput("invalid rule set: " + "; ".join(problems),
                               hint="fix the settings named and send the rule set again")
        return cls(entity_type, rules, policies)
