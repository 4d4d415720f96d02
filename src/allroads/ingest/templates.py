"""Import templates: a profile, the customer's unique identifier, a column mapping and options.

A template is saved once and reused for every file of the same shape. ``Template.from_dict``
is strict: an unknown key, an option the profile does not support, an unknown field or a
``match_on`` the profile does not allow is an InvalidInput naming the key path
(``options.append_country_code``) and listing the valid values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from allroads.domain.errors import InvalidInput
from allroads.ingest.profiles import SOURCE_PREFIX, ImportProfile, get_profile


@dataclass(frozen=True, slots=True)
class TemplateOptions:
    """Template options; see ``allroads.ingest.profiles.OPTIONS`` for their wording."""

    disable_updates: bool = False
    update_fields: tuple[str, ...] | None = None
    skip_empty_values: bool = False
    append_country_code: bool = False
    disable_mobile_validation: bool = False
    disable_email_validation: bool = False
    replace_invalid_store: str | None = None
    stores_by_external_id: bool = False
    validate_transaction_number: bool = False
    skip_redemption_range_check: bool = False
    replace_invalid_series: str | None = None
    link_user: bool = True
    keep_unmapped_as_custom: bool = False
    skip_fuzzy_matching: bool = False

    def may_update(self, field: str) -> bool:
        """May an existing record's ``field`` be updated by this template?"""
        if self.disable_updates:
            return False
        return self.update_fields is None or field in self.update_fields

    def changed(self) -> dict[str, Any]:
        """The options that differ from their defaults."""
        default = TemplateOptions()
        return {
            f.name: _plain(getattr(self, f.name))
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }


_OPTION_NAMES: tuple[str, ...] = tuple(f.name for f in fields(TemplateOptions))
_TEXT_OPTIONS = frozenset({"replace_invalid_store", "replace_invalid_series"})
_KEYS = ("name", "profile", "match_on", "mapping", "options")


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _bad(path: str, message: str, hint: str) -> InvalidInput:
    return InvalidInput(f"{path}: {message}", field=path, hint=hint)


def _text(path: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value.strip()):
        raise _bad(path, f"expected a non-empty string, got {value!r}", "send a string")
    return value.strip()


def _option(profile: ImportProfile, key: str, value: Any) -> Any:
    path = f"options.{key}"
    if key not in _OPTION_NAMES:
        raise _bad(path, "unknown option", f"valid options for {profile.name}: "
                   f"{', '.join(profile.options) or '(none)'}")
    if key not in profile.options:
        raise _bad(path, f"not supported by profile {profile.name!r}",
                   f"valid options for {profile.name}: {', '.join(profile.options) or '(none)'}")
    if key == "update_fields":
        return _update_fields(profile, value)
    if key in _TEXT_OPTIONS:
        return None if value is None else _text(path, value)
    if not isinstance(value, bool):
        raise _bad(path, f"expected true or false, got {value!r}", "send a JSON boolean")
    return value


def _update_fields(profile: ImportProfile, value: Any) -> tuple[str, ...] | None:
    path = "options.update_fields"
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise _bad(path, f"expected a list of field names, got {value!r}",
                   'send e.g. ["first_name", "email"], or null for every field')
    names = profile.field_names()
    out: list[str] = []
    for index, item in enumerate(value):
        if item not in names:
            raise _bad(f"{path}[{index}]", f"unknown field {item!r} for profile {profile.name}",
                       f"valid fields: {', '.join(names)}")
        if not profile.field(item).updatable:
            raise _bad(f"{path}[{index}]", f"{item} may not be updated through import "
                       "(MOBILE_CHANGE_NOT_ALLOWED)", f"remove {item!r} from update_fields")
        if item not in out:
            out.append(item)
    return tuple(out)


def _options(profile: ImportProfile, data: Any) -> TemplateOptions:
    if data is None:
        return TemplateOptions()
    if not isinstance(data, Mapping):
        raise _bad("options", f"expected an object, got {data!r}",
                   f"valid options for {profile.name}: {', '.join(profile.options) or '(none)'}")
    values = {str(key): _option(profile, str(key), value) for key, value in data.items()}
    return TemplateOptions(**values)


def _mapping(profile: ImportProfile, data: Any) -> dict[str, str]:
    """Column header -> field name; an empty field name means "ignore this column"."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise _bad("mapping", f"expected an object of column header -> field, got {data!r}",
                   'send e.g. {"Mobile No.": "mobile"}')
    names = profile.field_names()
    out: dict[str, str] = {}
    for header, target in data.items():
        path = f"mapping.{header}"
        if not isinstance(header, str) or not header.strip():
            raise _bad("mapping", f"column headers must be non-empty strings, got {header!r}",
                       "use the header exactly as in the file")
        name = _text(path, target if target is not None else "", allow_empty=True)
        if name and name not in names:
            if profile.source_columns and name.startswith(SOURCE_PREFIX):
                profile.field(name)  # validates the source name
            else:
                raise _bad(path, f"unknown field {name!r} for profile {profile.name}",
                           f"valid fields: {', '.join(names)}; or \"\" to ignore the column")
        out[header] = name
    return out


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    profile: str
    match_on: str | None
    mapping: dict[str, str]
    options: TemplateOptions

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, name: str | None = None) -> Template:
        if not isinstance(data, Mapping):
            raise _bad("template", f"expected an object, got {type(data).__name__}",
                       f"send an object with keys {', '.join(_KEYS)}")
        unknown = [str(key) for key in data if key not in _KEYS]
        if unknown:
            raise _bad(unknown[0], "unknown key", f"valid keys: {', '.join(_KEYS)}")
        if "profile" not in data:
            raise _bad("profile", "missing", "name the import profile, e.g. \"people\"")
        profile = get_profile(_text("profile", data["profile"]))
        title = name if name is not None else data.get("name")
        if title is None:
            raise _bad("name", "missing", "give the template a name")
        match_on = data.get("match_on")
        if match_on is not None:
            match_on = _text("match_on", match_on).lower()
            if match_on not in profile.match_on:
                raise _bad("match_on", f"{match_on!r} is not allowed for profile "
                           f"{profile.name}", f"use one of: {', '.join(profile.match_on)}"
                           if profile.match_on else "this profile has no unique identifier; "
                           "leave match_on out")
        return cls(
            name=_text("name", title),
            profile=profile.name,
            match_on=match_on,
            mapping=_mapping(profile, data.get("mapping")),
            options=_options(profile, data.get("options")),
        )

    def to_dict(self) -> dict[str, Any]:
        supported = get_profile(self.profile).options
        options = {key: _plain(getattr(self.options, key)) for key in supported}
        options.update(self.options.changed())
        return {
            "name": self.name,
            "profile": self.profile,
            "match_on": self.match_on,
            "mapping": dict(self.mapping),
            "options": options,
        }

    def required_fields(self) -> tuple[str, ...]:
        """Fields the file must have a column for: the profile's mandatory fields and the
        template's unique identifier (when cards are linked to users, for cards)."""
        profile = get_profile(self.profile)
        required = list(profile.mandatory_fields())
        linked = self.options.link_user or "link_user" not in profile.options
        wanted = self.match_on in profile.field_names() and self.match_on not in required
        if self.match_on is not None and linked and wanted:
            required.append(self.match_on)
        return tuple(required)

