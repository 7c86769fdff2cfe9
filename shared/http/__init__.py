"""The HTTP edge every service shares: app factory base, problem bodies, API-key auth, health, metrics."""

from shared.http.app import ServiceContext, create_service_app
from shared.http.auth import current_key, roles_required
from shared.http.problems import Problem

__all__ = ["Problem", "ServiceContext", "create_service_app", "current_key", "roles_required"]
