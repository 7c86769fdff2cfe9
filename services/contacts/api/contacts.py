"""Contacts, their consent, suppressions and timeline, and GDPR erasure and export."""

from __future__ import annotations

import re

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from services.contacts import schemas as s
from services.contacts.api import READERS, WRITERS, jsonable, reading
from services.contacts.handlers import contacts as handlers
from services.contacts.handlers import events, merge, preferences, privacy
from shared.errors import Invalid
from shared.http import roles_required
from shared.http.audit import record_change
from shared.http.context import unit_of_work
from shared.http.openapi import alt_problem

blp = Blueprint("contacts", __name__, url_prefix="/contacts", description="Contacts, consent, suppressions, timeline")
CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
# Agents record consent and suppressions a customer states on the phone; systems and marketers too.
PREFERENCE_WRITERS = ("marketer", "ingest", "agent")


@blp.route("")
class Contacts(MethodView):
    """Create and list contacts."""

    @roles_required(*WRITERS)
    @blp.arguments(s.ContactWriteSchema)
    @blp.response(201, s.ContactSchema)
    @alt_problem(blp, 409, "the external_id, email or phone is already used by another contact (named in errors)")
    def post(self, body):
        """Create a contact (publishes contact.upserted)."""
        with unit_of_work() as uow:
            contact = handlers.create_contact(uow, body)
            record_change(uow, "contact.create", "contact", contact["id"], after=contact, subject_id=contact["id"])
            return contact

    @roles_required(*READERS)
    @blp.arguments(s.ContactListQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, s.ContactPageSchema)
    def get(self, query):
        """List contacts in creation order; filter by external_id, email or a filter expression (`where`)."""
        with reading() as uow:
            return handlers.list_contacts(uow, **query)


@blp.route("/<string:contact_id>")
class ContactItem(MethodView):
    """One contact."""

    @roles_required(*READERS)
    @blp.response(200, s.ContactSchema)
    def get(self, contact_id):
        """Read a contact."""
        with reading() as uow:
            return handlers.get_contact(uow, contact_id)

    @roles_required(*WRITERS)
    @blp.arguments(s.ContactWriteSchema)
    @blp.response(200, s.ContactSchema)
    @alt_problem(blp, 409, "the contact was erased or merged, or the new external_id, email or phone is used by "
                           "another contact")
    def patch(self, body, contact_id):
        """Change fields; attributes are merged (null removes a key). Publishes contact.upserted."""
        with unit_of_work() as uow:
            before = handlers.get_contact(uow, contact_id)
            contact = handlers.update_contact(uow, contact_id, body)
            record_change(uow, "contact.update", "contact", contact_id, before=before, after=contact,
                          subject_id=contact_id)
            return contact


def _channel(channel: str) -> str:
    if not CHANNEL.match(channel):
        raise Invalid.fields({"channel": f"must match {CHANNEL.pattern}"})
    return channel


@blp.route("/<string:contact_id>/consent/<string:channel>")
class ConsentItem(MethodView):
    """Consent on one channel."""

    @roles_required(*PREFERENCE_WRITERS)
    @blp.arguments(s.ConsentWriteSchema)
    @blp.response(200, s.ConsentSchema)
    @alt_problem(blp, 409, "the contact was erased")
    def put(self, body, contact_id, channel):
        """Record consent (publishes contact.consent.changed)."""
        with unit_of_work() as uow:
            return preferences.set_consent(uow, contact_id, _channel(channel), body["status"], body.get("source"))


@blp.route("/<string:contact_id>/consent")
class Consent(MethodView):
    """Consent of a contact."""

    @roles_required(*READERS)
    @blp.response(200, s.ConsentViewSchema)
    def get(self, contact_id):
        """Current consent per channel and the history of changes."""
        with reading() as uow:
            return preferences.consent_view(uow, contact_id)


@blp.route("/<string:contact_id>/suppressions")
class Suppressions(MethodView):
    """Suppressions of a contact."""

    @roles_required(*PREFERENCE_WRITERS)
    @blp.arguments(s.SuppressionWriteSchema)
    @blp.response(201, s.SuppressionSchema)
    def post(self, body, contact_id):
        """Add a suppression (publishes contact.suppression.changed)."""
        with unit_of_work() as uow:
            return preferences.add_suppression(uow, contact_id, body)

    @roles_required(*READERS)
    @blp.arguments(s.SuppressionQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, s.SuppressionSchema(many=True))
    def get(self, query, contact_id):
        """Active suppressions, newest first (`include_inactive=true` adds lifted and expired ones)."""
        with reading() as uow:
            return preferences.list_suppressions(uow, contact_id, query["include_inactive"])


@blp.route("/<string:contact_id>/suppressions/<string:suppression_id>")
class SuppressionItem(MethodView):
    """One suppression."""

    @roles_required(*PREFERENCE_WRITERS)
    @blp.response(200, s.SuppressionSchema)
    def delete(self, contact_id, suppression_id):
        """Lift the suppression (kept on record; publishes contact.suppression.changed with active=false)."""
        with unit_of_work() as uow:
            return preferences.lift_suppression(uow, contact_id, suppression_id)


@blp.route("/<string:contact_id>/timeline")
class Timeline(MethodView):
    """What happened to a contact."""

    @roles_required(*READERS)
    @blp.arguments(s.PageQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, s.TimelinePageSchema)
    def get(self, query, contact_id):
        """Events, consent changes, suppressions and message outcomes, newest first."""
        with reading() as uow:
            return events.timeline_page(uow, contact_id, query["limit"], query.get("cursor"))


@blp.route("/<string:contact_id>/erase")
class Erase(MethodView):
    """GDPR erasure."""

    @roles_required("operator")
    @blp.response(200, s.ContactSchema)
    def post(self, contact_id):
        """Erase the contact's personal data here and publish contact.erased; a global suppression remains."""
        with unit_of_work() as uow:
            return privacy.erase_contact(uow, contact_id)


@blp.route("/<string:contact_id>/merge")
class Merge(MethodView):
    """One person, one profile: fold a duplicate profile into this one."""

    @roles_required("marketer")  # and operator, who passes everywhere
    @blp.arguments(s.MergeSchema)
    @blp.response(200, s.MergeResultSchema)
    @alt_problem(blp, 404, "no contact with this id")
    @alt_problem(blp, 409, "this contact or the duplicate was erased, or one of them was merged into another")
    def post(self, body, contact_id):
        """Merge `duplicate_id` into this contact (docs/contacts.md, 'Merging profiles'); publishes contact.merged.

        Merging the same pair again answers 200 with `merged: false`. Merging a contact into itself
        or an unknown duplicate_id is a 422 naming `duplicate_id`.
        """
        with unit_of_work() as uow:
            return merge.merge_contacts(uow, contact_id, body["duplicate_id"])


@blp.route("/<string:contact_id>/export")
class Export(MethodView):
    """GDPR access request."""

    @roles_required("operator", "marketer")
    @blp.response(200)
    def get(self, contact_id):
        """Everything this service holds about the contact, as JSON."""
        with reading() as uow:
            return jsonable(privacy.export_contact(uow, contact_id))
