"""The channels service's repositories: the only modules (with migrations) that hold SQL.

- `tables`: the table definitions (`metadata`, `TABLES`), re-exported here;
- `ledger.TouchLedger`: the touch lifecycle (reserve, mark sent, release) and what caps count;
- `capacity.CapacityCounters` (the ledger's `.capacity`): capacity counters per rule window and their claims;
- `decision_log.DecisionLog`: the decision record;
- `jobs.DeliveryJobs`: send jobs (lease, retry, finish, dead letters);
- `contacts.ContactCopy`: the per-contact lock and the copy of contact facts;
- `rules_store`: the stored gate rules;
- `agent_queue.AgentQueue`: call-center tasks and web offers;
- `planned.PlannedSends`: the messages planned for a contact that the look-ahead rule holds cap slots for.
"""

from services.channels.repository.tables import (
    TABLES,
    call_tasks,
    consents,
    contact_policy,
    decisions,
    deliveries,
    metadata,
    offers,
    policy_rules,
    suppressions,
    touches,
)

__all__ = ["TABLES", "call_tasks", "consents", "contact_policy", "decisions", "deliveries", "metadata", "offers",
           "policy_rules", "suppressions", "touches"]
