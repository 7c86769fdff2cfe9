"""The contacts service's repositories: the only modules (with migrations) that hold SQL.

- `tables`: the table definitions (`metadata`, `TABLES`), re-exported here;
- `contacts.ContactStore`: the contact aggregate (its row, consents, suppressions, timeline, erasure);
- `events.EventStore`: behavioural events and their timeline entries;
- `segments.SegmentStore`: segments and their members (the filter compiler in `services/contacts/filters/`);
- `imports.ImportJobs`: import jobs, their rejections and the chunk writer;
- `topics.TopicStore`: the preference center's topic catalogue.

Handlers reach them through `services.contacts.unit_of_work.ContactsUnitOfWork`.
"""

from services.contacts.repository.contacts import ContactStore
from services.contacts.repository.events import EventStore
from services.contacts.repository.imports import ImportJobs
from services.contacts.repository.segments import SegmentStore
from services.contacts.repository.tables import (
    TABLES,
    consent_history,
    consents,
    contacts,
    events,
    import_jobs,
    import_rejections,
    metadata,
    segments,
    suppressions,
    timeline,
    topics,
)
from services.contacts.repository.topics import TopicStore

__all__ = ["TABLES", "ContactStore", "EventStore", "ImportJobs", "SegmentStore", "consent_history", "consents",
           "contacts", "events", "import_jobs", "import_rejections", "metadata", "segments", "suppressions",
           "timeline", "TopicStore", "topics"]
