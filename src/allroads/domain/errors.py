"""The one exception tree of Allroads. Edges (API, CLI) translate these; nothing else does.

    AllroadsError
    ├── InvalidInput                 bad input from a caller (API 422, CLI exit 2)
    │   └── InvalidIdentifier        an identifier value that does not normalize
    ├── NotFound                     no such tenant / entity / merge (API 404)
    ├── Conflict                     the request contradicts stored state (API 409)
    │   └── IdentifierConflict       a unique identifier belongs to another entity
    ├── PermissionDenied             the API key's role does not allow this (API 403)
    └── StoreError                   the database failed or is not migrated (API 503)
"""

from __future__ import annotations


class AllroadsError(Exception):
    """Base of every error Allroads raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, hint: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.field = field

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Pickled as it is (a writer process sends errors back), whatever the subclass's
        # __init__ takes.
        return (_rebuilt, (type(self), self.args, self.__dict__))


def _rebuilt(cls: type[AllroadsError], args: tuple[object, ...], state: dict[str, object]
             ) -> AllroadsError:
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class InvalidInput(AllroadsError):
    code = "invalid_input"


class InvalidIdentifier(InvalidInput):
    """A value that cannot be normalized as the identifier kind it claims to be."""

    code = "invalid_identifier"

    def __init__(self, kind: str, value: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"Invalid {kind} {value!r}: {reason}", hint=hint, field=kind)
        self.kind = kind
        self.value = value
        self.reason = reason


class NotFound(AllroadsError):
    code = "not_found"


class Conflict(AllroadsError):
    code = "conflict"


class IdentifierConflict(Conflict):
    """A unique identifier is already held by another entity and the policy is to reject."""

    code = "identifier_conflict"


class PermissionDenied(AllroadsError):
    code = "permission_denied"


class StoreError(AllroadsError):
    code = "store_error"
