"""The console: a small server-rendered web application for agents, marketers and operators.

It talks to the four services only through their public HTTP APIs, with the signed-in user's own
API key, and owns no data. `create_app()` is the app factory; nothing else runs at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException

from services.console.config import ConsoleSettings

log = logging.getLogger(__name__)


def create_app(settings: ConsoleSettings | None = None, client_factory: Callable[..., Any] | None = None) -> Flask:
    """Build the console; tests pass `client_factory` only to point it at other service URLs."""
    from services.console import auth, edge, views
    from services.console.client import ServiceClient
    from services.console.rates import History
    from services.console.svg import register_filters

    settings = settings or ConsoleSettings.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="touchpoint_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        # The cookie outlives the session by a day so an expired session is explained, not silently dropped;
        # the session's own `expires` is what ends it (auth.check_request).
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.session_minutes, days=1),
        MAX_CONTENT_LENGTH=256 * 1024,
    )
    app.extensions["console"] = settings
    app.extensions["console_client"] = client_factory or ServiceClient
    app.extensions["console_metrics"] = History(keep=settings.metric_readings)
    app.jinja_env.globals.update(csrf_token=auth.csrf_token, may=auth.may, role=auth.role,
                                 refresh_seconds=settings.refresh_seconds)
    register_filters(app)
    edge.install(app)  # first: the guard's limits hold before any CSRF or session check reads the request
    app.before_request(auth.check_request)
    app.register_blueprint(auth.bp)
    for blueprint in views.blueprints():
        app.register_blueprint(blueprint)
    _register_error_pages(app)

    @app.after_request
    def security_headers(response):
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                    "form-action 'self'; frame-ancestors 'none'")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return app


def _register_error_pages(app: Flask) -> None:
    """Every failure is a page a person can read: the service's problem detail, never a stack trace."""
    from services.console.auth import SessionExpired, end_session
    from services.console.client import ServiceError, ServiceUnavailable
    from services.console.policy_form import flatten
    from shared.errors import ServiceError as SharedServiceError

    @app.errorhandler(SessionExpired)
    def expired(_: SessionExpired):
        end_session(expired=True)
        return render_template("expired.html"), 401

    @app.errorhandler(ServiceError)
    def refused(exc: ServiceError):
        if exc.status == 401 and not isinstance(exc, ServiceUnavailable):
            end_session(expired=True)
            return render_template("expired.html", revoked=True), 401
        status = exc.status if 400 <= exc.status < 600 else 502
        return render_template("error.html", status=status, title=exc.title, detail=exc.detail,
                               errors=flatten(exc.errors or {}), service=exc.service), status

    @app.errorhandler(SharedServiceError)
    def guarded(exc: SharedServiceError):
        # the shared guard's refusals (414, 415, 422, 404, ...) as a page, with its headers (Accept-Post)
        status = getattr(exc, "status", 400)
        page = render_template("error.html", status=status, title=exc.title, detail=exc.detail,
                               errors=flatten(exc.errors or {}), service=None)
        return page, status, exc.headers

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return render_template("error.html", status=exc.code, title=exc.name, detail=exc.description,
                               errors={}, service=None), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("console error")
        return render_template("error.html", status=500, title="Something went wrong",
                               detail="The console hit an unexpected error; it has been logged.",
                               errors={}, service=None), 500
