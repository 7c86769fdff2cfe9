"""API-key authentication and role checks for Flask views.

Every request except the public health endpoints must carry a valid key (`X-API-Key: ...` or
`Authorization: Bearer ...`), checked before the view runs: 401 without one. Each view declares
the roles it admits with `@roles_required(...)`, 403 otherwise; `operator` is admitted everywhere.
A view meant for the public (a one-click unsubscribe link opened from an email) says so with
`@public_endpoint`: no key is asked for, the request guard still applies.
A test walks every registered endpoint and fails when one declares no roles.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, request

from shared.auth.keys import ROLES, ApiKey, ApiKeyStore
from shared.http.guard import admit_body
from shared.http.problems import Problem

PUBLIC_ENDPOINTS = {"health.livez", "health.healthz", "static"}
ROLES_ATTR = "_touchpoint_roles"
# A view marked with this attribute authenticates the request itself (a webhook checking an HMAC
# signature instead of an API key); it must still declare roles, so endpoints_without_roles sees it.
SELF_AUTHENTICATED_ATTR = "_touchpoint_self_authenticated"


def _self_authenticated(app: Flask, endpoint: str) -> bool:
    view = app.view_functions.get(endpoint)
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        view = getattr(view_class, request.method.lower(), None)
    return bool(getattr(view, SELF_AUTHENTICATED_ATTR, False))


def current_key() -> ApiKey:
    """The verified key of the current request."""
    return g.api_key


def _presented_key() -> str | None:
    header = request.headers.get("X-API-Key")
    if header:
        return header.strip()
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return None


def roles_required(*roles: str) -> Callable:
    """Admit only keys with one of `roles` (operators always) to the decorated view."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            key: ApiKey | None = g.get("api_key")
            if key is None:
                raise Problem(401, "Unauthorized", "an API key is required", kind="unauthorized",
                              headers={"WWW-Authenticate": 'Bearer realm="touchpoint"'})
            if key.role != "operator" and key.role not in roles:
                raise Problem(403, "Forbidden", f"role {key.role!r} may not do this; needs one of {sorted(roles)}",
                              kind="forbidden")
            admit_body()  # media type and JSON limits, once the caller is known to be allowed here
            return view(*args, **kwargs)

        setattr(wrapper, ROLES_ATTR, tuple(roles))
        return wrapper

    return decorate


def public_endpoint(view: Callable) -> Callable:
    """Mark a view as open to anyone, without an API key: it must check what it is given itself.

    Document it with `security: []` in OpenAPI. The shared request guard still runs (target
    limits before, the body's media type and limits here)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        admit_body()
        return view(*args, **kwargs)

    setattr(wrapper, ROLES_ATTR, ("public",))
    setattr(wrapper, SELF_AUTHENTICATED_ATTR, True)
    return wrapper


def install_authentication(app: Flask, store: ApiKeyStore) -> None:
    """Reject requests without a valid key before any non-public view runs."""
    app.extensions["touchpoint_keys"] = store

    @app.before_request
    def authenticate() -> None:
        if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
            return
        if _self_authenticated(current_app, request.endpoint):
            return
        text = _presented_key()
        key = current_app.extensions["touchpoint_keys"].verify(text) if text else None
        if key is None:
            raise Problem(401, "Unauthorized", "a valid API key is required (X-API-Key header)",
                          kind="unauthorized", headers={"WWW-Authenticate": 'Bearer realm="touchpoint"'})
        g.api_key = key


def endpoints_without_roles(app: Flask) -> list[str]:
    """Endpoints that declare no roles (a test asserts this list is empty)."""
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        if view_class is not None:
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                func = getattr(view_class, method.lower(), None)
                if func is None or not hasattr(func, ROLES_ATTR):
                    missing.append(f"{method} {rule.rule}")
        elif not hasattr(view, ROLES_ATTR):
            missing.append(str(rule.rule))
    return missing
