"""The audit trail: who changed what through the APIs, and when, recorded in the change's own transaction.

`details.py` holds the pure rules (what of a before/after is kept, within a bounded size, and how
erasure redacts it); `log.py` the `audit_log` table of every service database (and of the auth
database, for API keys) and the `AuditLog` repository every unit of work carries as `uow.audit`.
"""

from shared.audit.details import DETAILS_BOUND_BYTES, ERASED, change_details, redact

__all__ = ["DETAILS_BOUND_BYTES", "ERASED", "change_details", "redact"]
