"""A contact's page: profile, consent, suppressions, the timeline, and the gate's decisions (why (not))."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for

from services.console.auth import client, may, roles_required

bp = Blueprint("contacts", __name__, url_prefix="/contacts")


@bp.route("")
@roles_required("marketer", "agent")
def search() -> str:
    """Find contacts by email, external id or a filter expression."""
    query = (request.args.get("q") or "").strip()
    api = client()
    if not query:
        found = api.get("contacts", "/contacts", limit=50)
    elif "@" in query and " " not in query:
        found = api.get("contacts", "/contacts", email=query, limit=50)
    elif any(op in query for op in ("==", "!=", "<", ">", "(", " and ", " or ")):
        found = api.get("contacts", "/contacts", where=query, limit=50)
    else:
        found = api.get("contacts", "/contacts", external_id=query, limit=50)
    items = found.get("items", [])
    if len(items) == 1 and query:
        return redirect(url_for("contacts.contact", contact_id=items[0]["id"]))
    return render_template("contacts/search.html", contacts=items, q=query)


@bp.route("/<string:contact_id>")
@roles_required("marketer", "agent")
def contact(contact_id: str) -> str:
    """Everything the system knows about one contact, and why each message went out or not."""
    api = client()
    profile = api.get("contacts", f"/contacts/{contact_id}")
    consent = api.get("contacts", f"/contacts/{contact_id}/consent")
    suppressions = api.get("contacts", f"/contacts/{contact_id}/suppressions", include_inactive="true")
    timeline = api.get("contacts", f"/contacts/{contact_id}/timeline", limit=50)
    decisions = api.get("channels", "/decisions", contact_id=contact_id, limit=100)
    offers = api.get("channels", f"/contacts/{contact_id}/offers") if may("agent", "channel_owner") else None
    return render_template("contacts/contact.html", contact=profile, consent=consent, suppressions=suppressions,
                           timeline=timeline.get("items", []), decisions=decisions, offers=offers)
