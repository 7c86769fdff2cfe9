"""Errors the contacts handlers raise; the app turns each into an RFC 9457 problem body."""

from __future__ import annotations

from typing import Any


class ContactsError(Exception):
    """A request the handlers refuse: HTTP status, title, detail and the fields at fault."""

    status = 400
    title = "Bad Request"
    kind = "bad-request"

    def __init__(self, detail: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class MalformedBody(ContactsError):
    """A body that is not the JSON it claims to be."""

    status, title, kind = 400, "Malformed request body", "malformed-body"


class UnsupportedMediaType(ContactsError):
    """A body in a content type the endpoint does not take."""

    status, title, kind = 415, "Unsupported Media Type", "unsupported-media-type"


class NotFound(ContactsError):
    """The addressed resource does not exist."""

    status, title, kind = 404, "Not Found", "not-found"


class Conflict(ContactsError):
    """The request contradicts the stored state (a taken external_id, an erased contact)."""

    status, title, kind = 409, "Conflict", "conflict"


class Invalid(ContactsError):
    """Field values that break the rules; `errors` maps each field to its messages."""

    status, title, kind = 422, "Validation failed", "validation"

    @classmethod
    def fields(cls, errors: dict[str, str]) -> Invalid:
        """An Invalid naming every field of `errors` in its detail."""
        return cls(f"invalid field(s): {', '.join(sorted(errors))}",
                   {name: [message] for name, message in errors.items()})
