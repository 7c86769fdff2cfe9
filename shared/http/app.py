"""The base of every service's app factory: config, errors, auth, health, metrics, OpenAPI."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, g, jsonify, request
from flask_smorest import Blueprint
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import Engine, text

from shared.auth.keys import ApiKeyStore
from shared.clock import Clock, system_clock
from shared.config import Settings
from shared.contracts import register_contracts
from shared.db.engine import make_engine
from shared.http.auth import install_authentication, roles_required
from shared.http.context import EXTENSION
from shared.http.guard import install_request_guard
from shared.http.openapi import EdgeResponses, HealthSchema, LivenessSchema, TouchpointApi
from shared.http.problems import register_problem_handlers
from shared.messaging.connection import connect
from shared.messaging.outbox import MessagingTables, UnitOfWorkFactory
from shared.messaging.topology import QueueSpec, Topology

REQUESTS = Counter("touchpoint_http_requests_total", "HTTP requests", ["service", "method", "endpoint", "status"])
LATENCY = Histogram("touchpoint_http_request_seconds", "HTTP request latency", ["service", "endpoint"])


@dataclass
class ServiceContext:
    """What a service's views need, built once by its factory and kept on `app.extensions`."""

    settings: Settings
    engine: Engine
    keys: ApiKeyStore
    topology: Topology
    extra: dict[str, Any] = field(default_factory=dict)
    clock: Clock = system_clock
    # Opens units of work (`with ctx.units_of_work() as uow`); read it through shared.http.context.
    units_of_work: Any = None


class _BrokerProbe:
    """Checks the broker at most every few seconds, so a health poll never floods it with connections."""

    def __init__(self, amqp_url: str, ttl: float = 5.0) -> None:
        self.amqp_url = amqp_url
        self.ttl = ttl
        self._checked_at = 0.0
        self._result: tuple[bool, str] = (False, "not checked")

    def __call__(self) -> tuple[bool, str]:
        if time.monotonic() - self._checked_at > self.ttl:
            try:
                connect(self.amqp_url, client_name="healthcheck", timeout=2).close()
                self._result = (True, "ok")
            except Exception as exc:  # any failure means unhealthy; the text goes into the answer
                self._result = (False, f"{exc.__class__.__name__}: {exc}")
            self._checked_at = time.monotonic()
        return self._result


def _db_probe(engine: Engine) -> Callable[[], tuple[bool, str]]:
    def check() -> tuple[bool, str]:
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True, "ok"
        except Exception as exc:  # any failure means unhealthy; the text goes into the answer
            return False, f"{exc.__class__.__name__}: {str(exc)[:200]}"

    return check


def create_service_app(settings: Settings, title: str, blueprints: Iterable[Blueprint],
                       engine: Engine | None = None, keys: ApiKeyStore | None = None,
                       extra_checks: dict[str, Callable[[], tuple[bool, str]]] | None = None,
                       description: str = "", queues: Callable[[], Iterable[QueueSpec]] | None = None,
                       tables: MessagingTables | None = None, clock: Clock | None = None,
                       units_of_work: Callable[[Engine], Any] | None = None) -> Flask:
    """Build a Flask app with the shared edge; the service passes its own blueprints.

    `queues` names the service's work queues, so operators can list and replay their dead letters.
    `tables` (the service's outbox/inbox) makes `shared.http.context.unit_of_work()` open units of
    work on the app's engine; `units_of_work(engine)` replaces that factory with the service's own.
    `clock` is what `shared.http.context.clock()` answers (default: the system clock).
    """
    register_contracts()  # start-up of an API process: the message contracts, explicitly
    app = Flask(settings.service)
    app.config.update(
        API_TITLE=title,
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        JSON_SORT_KEYS=False,
        API_SPEC_OPTIONS={
            "info": {"description": description or title},
            "components": {"securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                           "description": "or `Authorization: Bearer <key>`; any role may read this document"}}},
            "security": [{"ApiKey": []}],
        },
    )
    engine = engine or make_engine(settings.database_url)
    keys = keys or ApiKeyStore(make_engine(settings.auth_database_url, pool_size=2))
    context = ServiceContext(settings, engine, keys, Topology(settings.namespace, settings.queue_type),
                             clock=clock or system_clock)
    if units_of_work is not None:
        context.units_of_work = units_of_work(engine)
    elif tables is not None:
        context.units_of_work = UnitOfWorkFactory(engine, tables, settings.service)
    context.extra["queues"] = queues or (lambda: ())
    app.extensions[EXTENSION] = context

    install_request_guard(app)  # before the blueprints: their <int:...> routes take its 64-bit converter
    api = TouchpointApi(app, spec_kwargs={"extra_plugins": [EdgeResponses()]})
    register_problem_handlers(app)  # after Api(), so our handlers replace flask-smorest's
    install_authentication(app, keys)
    api.register_blueprint(_health_blueprint(settings, engine, extra_checks or {}))
    api.register_blueprint(_keys_blueprint())
    api.register_blueprint(_dead_letters_blueprint())
    if context.units_of_work is not None:  # a service with its own database has its own audit trail
        api.register_blueprint(_audit_blueprint())
    for blueprint in blueprints:
        api.register_blueprint(blueprint)
    _install_request_metrics(app, settings.service)
    app.extensions["touchpoint_api"] = api
    # openapi.json is served by flask-smorest under the "api-docs" blueprint; it needs a key like all else.
    spec_view = app.view_functions.get("api-docs.openapi_json")
    if spec_view is not None:
        app.view_functions["api-docs.openapi_json"] = roles_required(
            "marketer", "channel_owner", "agent", "operator", "ingest")(spec_view)
    return app


def _health_blueprint(settings: Settings, engine: Engine,
                      extra_checks: dict[str, Callable[[], tuple[bool, str]]]) -> Blueprint:
    blp = Blueprint("health", __name__, description="Liveness, readiness and metrics")
    checks = {"database": _db_probe(engine), "broker": _BrokerProbe(settings.amqp_url), **extra_checks}

    @blp.route("/livez")
    @blp.doc(security=[])
    @blp.response(200, LivenessSchema)
    def livez() -> Response:
        """The process is up."""
        return jsonify(status="ok", service=settings.service)

    @blp.route("/healthz")
    @blp.doc(security=[])
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="a check failed")
    def healthz() -> Response:
        """The service can reach its database and the broker."""
        results = {name: check() for name, check in checks.items()}
        healthy = all(ok for ok, _ in results.values())
        body = {"status": "ok" if healthy else "unavailable", "service": settings.service,
                "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in results.items()}}
        response = jsonify(body)
        response.status_code = 200 if healthy else 503
        return response

    @blp.route("/metrics")
    @roles_required("operator")
    @blp.doc(responses={"200": {"description": "Prometheus text format", "content": {
        CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}})
    def metrics() -> Response:
        """Prometheus metrics of this process (operator key, e.g. as a bearer token in the scrape config)."""
        return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)

    return blp


def _keys_blueprint() -> Blueprint:
    from shared.http.keys_api import blp

    return blp


def _audit_blueprint() -> Blueprint:
    from shared.http.audit import blp

    return blp


def _dead_letters_blueprint() -> Blueprint:
    from shared.http.deadletters_api import blp

    return blp


def _install_request_metrics(app: Flask, service: str) -> None:
    @app.before_request
    def start_timer() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        endpoint = request.endpoint or "unmatched"
        REQUESTS.labels(service, request.method, endpoint, response.status_code).inc()
        if "started" in g:
            LATENCY.labels(service, endpoint).observe(time.perf_counter() - g.started)
        return response
