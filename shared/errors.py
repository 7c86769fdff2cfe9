"""The one error family every service raises; `shared.http.problems` answers each with an RFC 9457 body.

Handlers and views raise these (plain Python: no Flask import, so handlers stay testable without an
app). Each class fixes the status, title and problem `kind` of its answer; `errors` maps the fields
at fault to their messages:

    raise NotFound(f"no campaign {campaign_id}")                       # 404 not-found
    raise Conflict("an archived campaign cannot be changed")           # 409 conflict
    raise Invalid.field("owner", "1 to 128 characters")                # 422 validation naming `owner`
    raise Invalid(detail, errors, title="Invalid template")            # 422 with the service's own title

`shared.http.Problem(status, title, ...)` is the same family for the rare answer with no class of
its own (401, 403, 414, ...).
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """A request refused: HTTP status, title, problem kind, detail and the fields at fault."""

    status = 400
    title = "Bad Request"
    kind: str | None = "bad-request"

    def __init__(self, detail: str = "", errors: dict[str, Any] | None = None, *, title: str | None = None,
                 kind: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or title or self.title)
        self.detail = detail
        self.errors = errors
        if title is not None:
            self.title = title
        if kind is not None:
            self.kind = kind
        self.headers = headers or {}


class MalformedBody(ServiceError):
    """A body that is not the JSON it claims to be."""

    status, title, kind = 400, "Malformed request body", "malformed-body"


class UnsupportedMediaType(ServiceError):
    """A body in a content type the endpoint does not take."""

    status, title, kind = 415, "Unsupported Media Type", "unsupported-media-type"


class NotFound(ServiceError):
    """The addressed resource does not exist."""

    status, title, kind = 404, "Not Found", "not-found"


class Conflict(ServiceError):
    """The request contradicts the stored state (a taken key, an archived campaign, a claimed task)."""

    status, title, kind = 409, "Conflict", "conflict"


class Invalid(ServiceError):
    """Field values that break the rules; `errors` maps each field to its messages."""

    status, title, kind = 422, "Validation failed", "validation"

    @classmethod
    def fields(cls, errors: dict[str, str]) -> Invalid:
        """An Invalid naming every field of `errors` (one message each) in its detail."""
        return cls(f"invalid field(s): {', '.join(sorted(errors))}",
                   {name: [message] for name, message in errors.items()})

    @classmethod
    def field(cls, name: str, message: str, detail: str | None = None) -> Invalid:
        """An Invalid about one field."""
        return cls(detail or f"invalid field(s): {name}", {name: [message]})


class Unavailable(ServiceError):
    """A service this request needs did not answer (another Touchpoint service, over HTTP); try again later."""

    status, title, kind = 503, "Service Unavailable", "unavailable"


class BadCursor(ServiceError):
    """A paging cursor this service did not hand out: 400 naming the `cursor` parameter, in every service."""

    status, title, kind = 400, "Bad cursor", "validation"

    def __init__(self, field: str = "cursor") -> None:
        super().__init__(f"{field} is not one this API handed out", {field: ["invalid cursor"]})
