"""The topic catalogue: the topics campaigns use (`topic` of a campaign), labelled per language.

The preference center lists these topics for a contact to tick; a campaign's `topic` that is not in
the catalogue is still honoured by the gate, but contacts can only choose topics listed here (and
any topic they already stopped). Marketers manage it; every API reader may list it.
"""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from services.contacts import schemas as s
from services.contacts.api import READERS, reading
from services.contacts.handlers import topics as handlers
from shared.http import roles_required
from shared.http.audit import record_change
from shared.http.context import unit_of_work

blp = Blueprint("topics", __name__, url_prefix="/topics", description="The preference center's topic catalogue")


@blp.route("")
class Topics(MethodView):
    """List the catalogue."""

    @roles_required(*READERS)
    @blp.response(200, s.TopicSchema(many=True))
    def get(self):
        """Every topic, by key."""
        with reading() as uow:
            return handlers.list_topics(uow)


@blp.route("/<string:key>")
class TopicItem(MethodView):
    """One topic."""

    @roles_required("marketer")
    @blp.arguments(s.TopicWriteSchema)
    @blp.response(200, s.TopicSchema)
    def put(self, body, key):
        """Create a topic or replace its labels; a key campaigns can name as `topic` (lower-case, 1-64 characters)."""
        with unit_of_work() as uow:
            before = next((t for t in handlers.list_topics(uow) if t["key"] == key), None)
            topic = handlers.put_topic(uow, key, body["labels"])
            record_change(uow, "topic.put", "topic", key, before=before, after=topic)
            return topic

    @roles_required("marketer")
    @blp.response(204)
    def delete(self, key):
        """Take a topic off the preference center (contacts' suppressions of it stay in force)."""
        with unit_of_work() as uow:
            before = next((t for t in handlers.list_topics(uow) if t["key"] == key), None)
            handlers.delete_topic(uow, key)
            record_change(uow, "topic.delete", "topic", key[:64], before=before)
