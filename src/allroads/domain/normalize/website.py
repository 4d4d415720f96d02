"""Domains: the registrable-looking host name behind a website URL, an email or a bare domain.

``https://www.Acme.com/about?x=1``, ``http://acme.com:8080``, ``www.acme.co.uk/``,
``jane@acme.com`` and ``acme.com`` all normalize to the lower-case ASCII (IDNA / punycode) host
name without ``www.``: ``acme.com``, ``acme.co.uk``. No DNS lookup is ever made.
"""

from __future__ import annotations

import re

import idna

from allroads.domain.errors import InvalidIdentifier
from allroads.domain.normalize.freemail import FREE_MAIL_DOMAINS

_KIND = "domain"
_HINT = "send a domain such as acme.com, a website URL such as https://acme.com, or an email"

_SCHEME_AUTHORITY = re.compile(r"^(?:[a-z][a-z0-9+.\-]*:)?//", re.IGNORECASE)
_MAILTO = re.compile(r"^mailto:", re.IGNORECASE)
_AUTHORITY_END = re.compile(r"[/?#\\]")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?")
_TLD = re.compile(r"[a-z]{2,63}|xn--[a-z0-9\-]{1,59}")
_MAX_LENGTH = 253


def _fail(raw: str, reason: str) -> InvalidIdentifier:
    return InvalidIdentifier(_KIND, raw, reason, hint=_HINT)


def _host_of(raw: str, value: str) -> str:
    """The host part of a URL, email or bare domain (no scheme, user info, port or path)."""
    match = _SCHEME_AUTHORITY.match(value) or _MAILTO.match(value)
    if match is not None:
        value = value[match.end() :]
    end = _AUTHORITY_END.search(value)
    authority = value[: end.start()] if end is not None else value
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        raise _fail(raw, "an IP address, not a domain")
    host, colon, port = host.rpartition(":") if ":" in host else (host, "", "")
    if colon and port and not port.isdigit():
        raise _fail(raw, f"invalid port {port!r}")
    return host.strip()


def normalize_domain(raw: str) -> str:
    """Return the canonical domain of a URL, email or bare domain, or raise InvalidIdentifier."""
    value = raw.strip()
    if not value:
        raise _fail(raw, "empty value")
    host = _host_of(raw, value)
    if not host:
        raise _fail(raw, "no host name")
    try:
        encoded = idna.encode(host, uts46=True).decode("ascii")
    except (UnicodeError, ValueError) as exc:
        raise _fail(raw, f"not a valid host name: {exc}") from None
    if encoded.endswith("."):
        encoded = encoded[:-1]
    labels = encoded.split(".")
    if len(labels) < 2:
        raise _fail(raw, "no dot: a domain needs a name and a top-level domain (acme.com)")
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise _fail(raw, f"invalid label {label!r} in host name")
    if all(label.isdigit() for label in labels):
        raise _fail(raw, "an IP address, not a domain")
    if not _TLD.fullmatch(labels[-1]):
        raise _fail(raw, f"invalid top-level domain {labels[-1]!r}")
    while labels[0] == "www" and len(labels) > 2:
        labels = labels[1:]
    result = ".".join(labels)
    if len(result) > _MAX_LENGTH:
        raise _fail(raw, f"longer than {_MAX_LENGTH} characters")
    return result


def is_free_mail_domain(domain: str) -> bool:
    """True for consumer mailbox domains (gmail.com, yahoo.co.uk, ...).

    Accepts a normalized domain (fast path), or anything normalize_domain accepts (an email, a
    URL); a value that is not a domain at all is not a free-mail domain. Free-mail domains never
    identify an account.
    """
    value = domain.strip().lower()
    if value in FREE_MAIL_DOMAINS:
        return True
    try:
        return normalize_domain(domain) in FREE_MAIL_DOMAINS
    except InvalidIdentifier:
        return False
