"""The preference center: a contact's own page for consent per channel and topic subscriptions.

`GET /p/<token>` shows the page; `POST /p/<token>` (the page's form) saves it. The token is the one
every marketing email carries (shared.unsubscribe: the List-Unsubscribe link `/u/<token>` and the
body's `/p/<token>` link are the same token); it names the contact, and is the only authority: no
API key, no cookie, no session. GET never changes anything. The page is server-rendered HTML with
no script, in the contact's language (`locale`, else the browser's Accept-Language, else English;
English and German), with labels, fieldsets with legends, a skip link and visible focus.

Changes are recorded through the consent and suppression handlers with source `preference_center`
(services/contacts/domain/preferences.py says what a form means), so they reach the channels gate
through the outbox like any other consent change.

Cross-site requests: the token in the path is what authorises the change, and nothing ambient
(cookie, login) is, so a page elsewhere can only post a form for a token it already knows, which
could change the same things by opening the link. What remains is refused anyway: a POST that a
browser marks `Sec-Fetch-Site: cross-site` gets 403, the page may not be framed (`frame-ancestors
'none'`, against a click tricked through an invisible frame), and it sends no Referer that could leak
the token. Bad token: the unsubscribe pages' 404 / 410. A form field the page never sends with
that value: 422 problem naming it.
"""

from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint
from markupsafe import Markup, escape

from services.contacts import schemas as s
from services.contacts.api import reading
from services.contacts.api.unsubscribe import HEADERS, claim_of, not_found
from services.contacts.domain import preferences as prefs
from services.contacts.handlers import preferences as handlers
from shared.errors import Invalid, NotFound
from shared.http.auth import public_endpoint
from shared.http.context import unit_of_work
from shared.http.openapi import alt_problem

blp = Blueprint("preferences", __name__, url_prefix="/p", description="Public preference center")

_HTML = {"text/html": {"schema": {"type": "string"}}}
_PAGES = {"200": {"description": "the page (GET), or the page after saving (POST)", "content": _HTML},
          "403": {"description": "a browser's cross-site POST (Sec-Fetch-Site: cross-site)", "content": _HTML},
          "404": {"description": "the link is not one Touchpoint issued (malformed, tampered, unknown contact)",
                  "content": {**_HTML, "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
          "410": {"description": "the link is genuine but expired", "content": _HTML}}

_STYLE = """
body{font-family:system-ui,sans-serif;font-size:1.05rem;line-height:1.5;color:#111;background:#fff;margin:0}
main{max-width:38em;margin:0 auto;padding:1.5em 1em 3em}
h1{font-size:1.6rem;line-height:1.25;overflow-wrap:break-word;hyphens:manual}
label,legend,p{overflow-wrap:break-word}
fieldset{border:1px solid #6b6b6b;border-radius:6px;margin:1.2em 0;padding:.6em 1em 1em}
fieldset fieldset{border:0;padding:.2em 0;margin:.4em 0}
legend{font-weight:700;padding:0 .3em}
fieldset fieldset legend{font-weight:600;padding:0}
label{margin-right:1.4em;display:inline-block;padding:.25em 0}
input{width:1.15em;height:1.15em;vertical-align:-.15em;margin-right:.4em}
.hint{color:#3d3d3d;margin:.2em 0 .6em}
.status{border-left:5px solid #1b6e2a;background:#eef7f0;padding:.6em 1em}
.note{border-left:5px solid #8a5a00;background:#fff6e5;padding:.6em 1em}
button{font:inherit;padding:.55em 1.3em;border-radius:6px;border:2px solid #1a4fd6;cursor:pointer;margin:.3em 0}
.save{background:#1a4fd6;color:#fff}
.everything{background:#fff;color:#a3141e;border-color:#a3141e}
.actions{margin-top:2em;border-top:1px solid #6b6b6b;padding-top:1em}
a:focus,button:focus,input:focus{outline:3px solid #1a4fd6;outline-offset:2px}
.everything:focus{outline-color:#1a4fd6}
.skip{position:absolute;left:-999em;top:.5em;background:#fff;color:#1a4fd6;padding:.4em .8em}
.skip:focus{left:.5em}
"""


def _status_text(page: handlers.PreferencePage, action: str | None) -> str | None:
    if action is None:
        return None
    if action == "everything":
        return "everything.done"
    return "saved" if page.changed else "unchanged"


def render(token: str, page: handlers.PreferencePage, lang: str, status: str | None = None) -> str:
    """The page's HTML for a contact's preferences, in `lang`, with an optional status message (a text key)."""
    t = lambda key: escape(prefs.text(lang, key))  # noqa: E731  (a short local alias keeps the markup readable)
    if page.preferences is None:
        body = f"<h1>{t('erased.title')}</h1><p>{t('erased.text')}</p>"
        return _document(lang, prefs.text(lang, "erased.title"), Markup(body), skip=False)
    current = page.preferences
    parts = [f"<h1>{t('title')}</h1>"]
    if status:
        parts.append(f'<p class="status" role="status">{t(status)}</p>')
    parts.append(f"<p>{t('intro')}</p>")
    if current.everything_off and status != "everything.done":
        parts.append(f'<p class="note">{t("everything.done")}</p>')
    if current.held:
        parts.append(f'<p class="note">{t("held")}</p>')
    parts.append(f'<form id="choices" method="post" action="/p/{escape(token)}">')
    parts.append(f"<fieldset><legend>{t('channels')}</legend>")
    for channel in prefs.CHANNELS:
        answer = current.channel_answer(channel)
        parts.append(f'<fieldset><legend>{t("channel." + channel)}</legend>')
        for value, word in (("granted", "yes"), ("denied", "no")):
            ident = f"consent_{channel}_{value}"
            checked = " checked" if answer == value else ""
            parts.append(f'<label for="{ident}"><input type="radio" id="{ident}" name="consent_{channel}" '
                         f'value="{value}"{checked}>{t(word)}</label>')
        parts.append("</fieldset>")
    parts.append("</fieldset>")
    parts.append(f"<fieldset><legend>{t('topics')}</legend>")
    if current.topics:
        parts.append(f'<p class="hint" id="topics-hint">{t("topics.hint")}</p>')
        for index, topic in enumerate(current.topics):
            ident = f"topic_{index}"
            checked = " checked" if current.subscribed(topic.key) else ""
            parts.append(f'<input type="hidden" name="shown" value="{escape(topic.key)}">'
                         f'<div><input type="checkbox" id="{ident}" name="topic" value="{escape(topic.key)}"'
                         f' aria-describedby="topics-hint"{checked}>'
                         f'<label for="{ident}">{escape(topic.label(lang))}</label></div>')
    else:
        parts.append(f'<p class="hint">{t("no_topics")}</p>')
    parts.append("</fieldset>")
    # The first submit button is what Enter in a field presses: saving, never "everything".
    parts.append(f'<button type="submit" class="save" name="action" value="save">{t("save")}</button>')
    parts.append(f'<div class="actions"><p class="hint" id="everything-hint">{t("everything.hint")}</p>'
                 f'<button type="submit" class="everything" name="action" value="everything" '
                 f'aria-describedby="everything-hint">{t("everything")}</button></div>')
    parts.append("</form>")
    return _document(lang, prefs.text(lang, "title"), Markup("".join(parts)), skip=True, skip_text=t("skip"))


def _document(lang: str, title: str, body: Markup, *, skip: bool, skip_text: str = "") -> str:
    link = f'<a class="skip" href="#choices">{skip_text}</a>' if skip else ""
    return (f'<!doctype html><html lang="{escape(lang)}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
            f"<body>{link}<main>{body}</main></body></html>")


def _language(page: handlers.PreferencePage) -> str:
    return prefs.language(page.locale, request.headers.get("Accept-Language"))


def _answer(status: int, html: str) -> Response:
    return Response(html, status=status, mimetype="text/html", headers=HEADERS)


@blp.route("/<string:token>", methods=["GET"])
@blp.doc(security=[], responses=_PAGES)
@public_endpoint
def show(token: str) -> Response:
    """The contact's preference page; opening it changes nothing."""
    found = claim_of(token)
    if isinstance(found, Response):
        return found
    try:
        with reading() as uow:
            page = handlers.preference_page(uow, found.contact_id)
    except NotFound:
        return not_found()
    return _answer(200, render(token, page, _language(page)))


@blp.route("/<string:token>", methods=["POST"])
@blp.doc(security=[], responses=_PAGES)
@public_endpoint
@blp.arguments(s.PreferenceFormSchema, location="form")
@alt_problem(blp, 422, "a form field the page never sends with that value (the problem names it)")
def save(form: dict, token: str) -> Response:
    """Save the contact's choices (source `preference_center`), and show the page again with what was saved."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return _answer(403, _document("en", "Not allowed", Markup(
            "<h1>Not allowed</h1><p>Open the link from your message to change your preferences.</p>"), skip=False))
    found = claim_of(token)
    if isinstance(found, Response):
        return found
    try:
        chosen = prefs.choice(form)
    except prefs.FormError as exc:
        raise Invalid.field(exc.field, exc.message) from None
    try:
        with unit_of_work() as uow:
            page = handlers.save_preferences(uow, found.contact_id, chosen)
    except NotFound:
        return not_found()
    lang = _language(page)
    return _answer(200, render(token, page, lang, _status_text(page, chosen.action)))
