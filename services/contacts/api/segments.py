"""Segments: dynamic sets of contacts defined in the filter language."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE

from services.contacts import schemas as s
from services.contacts.api import READERS, reading
from services.contacts.handlers import segments as handlers
from shared.http import roles_required
from shared.http.audit import record_change
from shared.http.context import unit_of_work
from shared.http.openapi import alt_problem

blp = Blueprint("segments", __name__, url_prefix="/segments", description="Segments")


@blp.route("")
class Segments(MethodView):
    """Create and list segments."""

    @roles_required("marketer")
    @blp.arguments(s.SegmentWriteSchema)
    @blp.response(201, s.SegmentSchema)
    @alt_problem(blp, 409, "a segment with this name exists")
    def post(self, body):
        """Create a segment; an invalid definition is a 422 naming `definition` and the position."""
        with unit_of_work() as uow:
            segment = handlers.create_segment(uow, body)
            record_change(uow, "segment.create", "segment", segment["id"], after=segment)
            return segment

    @roles_required(*READERS)
    @blp.arguments(s.PageQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, s.SegmentPageSchema)
    def get(self, query):
        """List segments."""
        with reading() as uow:
            return handlers.list_segments(uow, query["limit"], query.get("cursor"))


@blp.route("/<string:segment_id>")
class SegmentItem(MethodView):
    """One segment."""

    @roles_required(*READERS)
    @blp.response(200, s.SegmentSchema)
    def get(self, segment_id):
        """Read a segment."""
        with reading() as uow:
            return handlers.get_segment(uow, segment_id)

    @roles_required("marketer")
    @blp.arguments(s.SegmentUpdateSchema)
    @blp.response(200, s.SegmentSchema)
    @alt_problem(blp, 409, "a segment with this name exists")
    def patch(self, body, segment_id):
        """Change a segment's name, description or definition."""
        with unit_of_work() as uow:
            before = handlers.get_segment(uow, segment_id)
            segment = handlers.update_segment(uow, segment_id, body)
            record_change(uow, "segment.update", "segment", segment_id, before=before, after=segment)
            return segment

    @roles_required("marketer")
    @blp.response(204)
    def delete(self, segment_id):
        """Delete a segment."""
        with unit_of_work() as uow:
            before = handlers.get_segment(uow, segment_id)
            handlers.delete_segment(uow, segment_id)
            record_change(uow, "segment.delete", "segment", segment_id, before=before)


@blp.route("/<string:segment_id>/count")
class SegmentCount(MethodView):
    """Size of a segment."""

    @roles_required(*READERS)
    @blp.response(200, s.SegmentCountSchema)
    def get(self, segment_id):
        """How many live contacts match now."""
        with reading() as uow:
            return {"segment_id": segment_id, "count": handlers.count_members(uow, segment_id)}


@blp.route("/<string:segment_id>/members")
class SegmentMembers(MethodView):
    """Members of a segment, streamed by keyset pages."""

    @roles_required(*READERS)
    @blp.arguments(s.MembersQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, s.MembersPageSchema)
    def get(self, query, segment_id):
        """Members with contact_id > `after`, in contact_id order, up to `limit` (1,000)."""
        with reading() as uow:
            return handlers.members_page(uow, segment_id, query.get("after"), query["limit"])
