"""The campaigns service's repositories: the only modules (with migrations) that hold SQL.

- `tables`: the table definitions (`metadata`, `TABLES`), re-exported here;
- `definitions.CampaignStore`: campaigns, their lifecycle columns and their versions;
- `template_store.TemplateStore`: stored message templates;
- `enrollment_store.EnrollmentStore`: enrollments (enroll, save where the engine left them, end, parked waits);
- `sends.SendLog`: requested sends and their reported outcomes;
- `broadcasts.BroadcastRuns`: broadcast runs and their page counts;
- `projections.ContactProjection`: the local copies of contact facts (contact, consents, suppressions, events);
- `reports.ReportQueries`: the counting queries of the campaign report.

Handlers reach them through `services.campaigns.unit_of_work.CampaignsUnitOfWork`. The modules are
not named after tables, so `from services.campaigns.repository import enrollments` stays the table.
"""

from services.campaigns.repository.broadcasts import BroadcastRuns
from services.campaigns.repository.definitions import CampaignStore
from services.campaigns.repository.enrollment_store import EnrollmentStore, enrollment_from_row
from services.campaigns.repository.projections import ContactProjection
from services.campaigns.repository.reports import ReportQueries
from services.campaigns.repository.sends import SendLog
from services.campaigns.repository.tables import (
    ID,
    TABLES,
    broadcast_runs,
    campaign_versions,
    campaigns,
    consents,
    contact_events,
    contacts,
    enrollments,
    metadata,
    send_outcomes,
    step_sends,
    suppressions,
    templates,
)
from services.campaigns.repository.template_store import TemplateStore

__all__ = [
    "ID", "TABLES", "BroadcastRuns", "CampaignStore", "ContactProjection", "EnrollmentStore", "ReportQueries", "SendLog",
    "TemplateStore", "broadcast_runs", "campaign_versions", "campaigns", "consents", "contact_events", "contacts",
    "enrollment_from_row", "enrollments", "metadata", "send_outcomes", "step_sends", "suppressions", "templates",
]
