"""One-click unsubscribe (RFC 8058): the public pages behind every marketing email's List-Unsubscribe link.

`POST /u/<token>` with `List-Unsubscribe=One-Click` (what mailbox providers send, form-urlencoded or
multipart) suppresses the token's contact for its channel (or topic), source `one_click`, and answers
200 with a short page; posting again changes nothing. `GET /u/<token>` only shows a page with a button
that makes that POST: link scanners and prefetchers GET every link in a mail, and must not unsubscribe
anyone. No API key: the signed token (shared.unsubscribe) is the authority, and names one contact.

Answers (text/html, never cached, never indexed): 200; 404 for a token that is malformed, tampered
with, signed with another secret, or names no contact; 410 for a genuine token older than its
validity (one year). An erased contact gets the 200 page and no change (they get nothing anyway).
A body of another media type is a 415 problem, a body without `List-Unsubscribe=One-Click` a 422.
"""

from __future__ import annotations

from flask import Response
from flask_smorest import Blueprint
from markupsafe import escape
from marshmallow import EXCLUDE, Schema, fields, validate

from services.contacts.handlers import preferences
from shared import unsubscribe
from shared.errors import NotFound
from shared.http.auth import public_endpoint
from shared.http.context import clock, service_context, unit_of_work

blp = Blueprint("unsubscribe", __name__, url_prefix="/u", description="Public one-click unsubscribe (RFC 8058)")

_HTML = {"text/html": {"schema": {"type": "string"}}}
_PAGES = {"200": {"description": "the confirmation (GET) or the result (POST)", "content": _HTML},
          # The page for a bad token; the shared edge's problem body for a path it refuses itself.
          "404": {"description": "the link is not one Touchpoint issued (malformed, tampered, unknown contact)",
                  "content": {**_HTML, "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
          "410": {"description": "the link is genuine but expired", "content": _HTML}}
HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer",
            # No script, no framing (a page that frames this one could trick a click), forms post only here.
           "Content-Security-Policy": ("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                                       "frame-ancestors 'none'"),
            "X-Content-Type-Options": "nosniff"}
_SCOPE_WORDS = {"channel": "{value} messages", "topic": "messages about {value}"}


class OneClickSchema(Schema):
    """The RFC 8058 POST body: `List-Unsubscribe=One-Click` (other fields are ignored)."""

    class Meta:
        unknown = EXCLUDE

    one_click = fields.String(required=True, data_key="List-Unsubscribe", validate=validate.Equal("One-Click"))


def _page(status: int, title: str, text: str, form_token: str | None = None) -> Response:
    """A minimal, accessible page: a heading, a sentence, and maybe the one button and the preferences link."""
    form = ""
    if form_token is not None:
        form = (f'<form method="post" action="/u/{escape(form_token)}">'
                '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
                '<button type="submit">Unsubscribe</button></form>'
                f'<p><a href="{escape(unsubscribe.preferences_url("", form_token))}">Manage all your preferences</a></p>')
    body = ('<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>{escape(title)}</title><style>body{{font-family:sans-serif;max-width:36em;margin:3em auto;'
            'padding:0 1em;color:#111;background:#fff}button{font-size:1.1em;padding:.5em 1.2em}'
            'a:focus,button:focus{outline:3px solid #1a4fd6;outline-offset:2px}</style></head>'
            f'<body><main><h1>{escape(title)}</h1><p>{escape(text)}</p>{form}</main></body></html>')
    return Response(body, status=status, mimetype="text/html", headers=HEADERS)


def claim_of(token: str) -> unsubscribe.UnsubscribeClaim | Response:
    """The token's claim, or the 4xx page that says why there is none (the preference center's too)."""
    try:
        return unsubscribe.verify(service_context().settings.unsubscribe_secrets, token, clock().now())
    except unsubscribe.ExpiredToken:
        return _page(410, "This link has expired",
                     "Unsubscribe links are valid for one year. Use the link in a recent message from us.")
    except unsubscribe.InvalidToken:
        return not_found()


def not_found() -> Response:
    """The page for a link Touchpoint did not issue."""
    return _page(404, "This link is not valid",
                 "The unsubscribe link is incomplete or was changed. Copy the whole link from the message.")


def _what(claim: unsubscribe.UnsubscribeClaim) -> str:
    return _SCOPE_WORDS[claim.scope].format(value=claim.value)


@blp.route("/<string:token>", methods=["GET"])
@blp.doc(security=[], responses=_PAGES)
@public_endpoint
def confirm(token: str) -> Response:
    """A page with the unsubscribe button; opening it changes nothing (link scanners GET every link)."""
    claim = claim_of(token)
    if isinstance(claim, Response):
        return claim
    return _page(200, "Unsubscribe", f"Stop receiving {_what(claim)} from us?", form_token=token)


@blp.route("/<string:token>", methods=["POST"])
@blp.doc(security=[], responses=_PAGES)
@public_endpoint
@blp.arguments(OneClickSchema, location="form")  # the guard admits urlencoded and multipart (RFC 8058 §3.1)
def one_click(_form: dict, token: str) -> Response:
    """Suppress the token's contact for its channel or topic (source `one_click`); idempotent."""
    claim = claim_of(token)
    if isinstance(claim, Response):
        return claim
    try:
        with unit_of_work() as uow:
            outcome = preferences.one_click_unsubscribe(uow, claim.contact_id, claim.scope, claim.value)
    except NotFound:
        return not_found()
    if outcome == "erased":
        return _page(200, "You are unsubscribed", "We hold no data about you and send you nothing.")
    return _page(200, "You are unsubscribed", f"We will not send you {_what(claim)} any more.")
