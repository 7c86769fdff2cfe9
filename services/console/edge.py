"""The console under the services' request guard (`shared.http.guard`), as fits a form app.

The same limits as every service, checked once before any page or CSRF check runs, answered with
an HTML page instead of a problem body:

- the request target: at most 8,160 bytes (414); no control characters or invalid UTF-8 in the
  path (404) or a query parameter (422 naming it); `<int:...>` ids within 64 bits (404);
- a POST body: only `application/x-www-form-urlencoded` (what the console's forms send; 415 with
  `Accept-Post` otherwise, so a JSON or multipart body never reaches a view); valid UTF-8 and no
  C0 control characters other than tab, LF and CR in any field name or value (422 naming it);
  bodies over MAX_CONTENT_LENGTH are 413.

JSON nesting and number limits do not apply: the console reads no JSON from browsers. Services'
own refusals are shown by the error pages in `services.console`.
"""

from __future__ import annotations

from flask import Flask, request

from shared.http.guard import install_request_guard, refused_urlencoded
from shared.http.problems import Problem

FORM = "application/x-www-form-urlencoded"


def install(app: Flask) -> None:
    """Guard every request (before the console's own before-request hooks: register this first)."""
    install_request_guard(app)
    app.before_request(check_form_body)


def check_form_body() -> None:
    """415 for a POST that is not a urlencoded form; 422 naming a field with a refused character."""
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    if not request.content_length and not request.mimetype:
        return  # an empty POST (a bare button): the CSRF check refuses it
    if request.mimetype != FORM:
        raise Problem(415, "Unsupported Media Type",
                      f"the console's forms send {FORM}, not {request.mimetype or 'a body without Content-Type'}",
                      kind="unsupported-media-type", headers={"Accept-Post": FORM})
    errors = refused_urlencoded(request.get_data(cache=True), "_form")
    if errors:
        raise Problem(422, "Check what you typed",
                      f"the form holds characters the console does not accept in: {', '.join(sorted(errors))}",
                      errors=errors, kind="validation")
