"""Signing in with an API key, the session, CSRF tokens and role checks.

The key lives only in Flask's signed session cookie (HttpOnly, SameSite=Strict; Secure behind
HTTPS): never in a page, a URL or a form the server renders. The role comes from the services'
own `GET /api-keys/me`, so the console never decides who someone is. Every POST must carry the
session's CSRF token; SameSite=Strict already keeps other sites' forms out, the token is the
second lock.
"""

from __future__ import annotations

import functools
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, session, url_for

from services.console.client import ServiceClient, ServiceError

bp = Blueprint("auth", __name__)

HOME_BY_ROLE = {"agent": "agent.tasks", "marketer": "marketer.campaigns", "operator": "operator.overview"}
PUBLIC_ENDPOINTS = {"auth.sign_in", "auth.sign_out", "static", "auth.livez"}


class SessionExpired(Exception):
    """The session ran out, or the services stopped accepting its key."""


def csrf_token() -> str:
    """The session's CSRF token (made on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def client() -> ServiceClient:
    """A client for the services with the signed-in user's key."""
    settings = current_app.extensions["console"]
    factory: Callable[..., ServiceClient] = current_app.extensions["console_client"]
    return factory(settings.service_urls, session.get("key"), settings.timeout_seconds)


def role() -> str | None:
    """The signed-in user's role."""
    return session.get("role")


def may(*roles: str) -> bool:
    """Whether the signed-in user has one of `roles` (operators may everything)."""
    return role() == "operator" or role() in roles


def roles_required(*roles: str) -> Callable:
    """Admit only signed-in users with one of `roles` (operators always); others get a 403 page."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not may(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def check_request() -> Any:
    """Before every request: a live session for private pages, a matching CSRF token for every POST."""
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        if not sent or "csrf" not in session or not hmac.compare_digest(sent, session["csrf"]):
            abort(400, "This form has expired or did not come from this console; reload the page and try again.")
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if "key" not in session:
        if session.get("was_signed_in"):
            raise SessionExpired()
        return redirect(url_for("auth.sign_in", next=request.full_path if request.method == "GET" else None))
    if session.get("expires", 0) < time.time():
        raise SessionExpired()
    g.user = {"name": session.get("name"), "role": session.get("role"), "key_id": session.get("key_id")}
    return None


def end_session(expired: bool) -> None:
    """Forget the key; remember only that there was a session, to explain what happened."""
    session.clear()
    if expired:
        session["was_signed_in"] = True


@bp.route("/livez")
def livez() -> dict:
    """The console process is up (it needs no key)."""
    return {"status": "ok", "service": "console"}


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Any:
    """The sign-in form: one API key; the services say whose it is."""
    error = None
    if request.method == "POST":
        key = (request.form.get("api_key") or "").strip()
        if not key or len(key) > 200:
            error = "Enter your API key."
        else:
            settings = current_app.extensions["console"]
            try:
                me = current_app.extensions["console_client"](settings.service_urls, key,
                                                               settings.timeout_seconds).get("contacts", "/api-keys/me")
            except ServiceError as exc:
                error = ("That key is not valid or has been revoked." if exc.status == 401
                         else f"Could not check the key: {exc.title}. {exc.detail}")
            else:
                session.clear()
                session.permanent = True
                session.update(key=key, role=me["role"], name=me["name"], key_id=me["key_id"],
                               csrf=secrets.token_urlsafe(32), expires=time.time() + settings.session_minutes * 60)
                target = request.args.get("next") or ""
                # Only paths of this console: "//host" and "/\\host" are other sites to a browser.
                if not target.startswith("/") or target[1:2] in ("/", "\\"):
                    target = url_for("auth.home")
                return redirect(target)
    return render_template("sign_in.html", error=error), 401 if error else 200


@bp.route("/sign-out", methods=["POST"])
def sign_out() -> Any:
    """Forget the key."""
    end_session(expired=False)
    return redirect(url_for("auth.sign_in"))


@bp.route("/")
def home() -> Any:
    """Each role starts on its own page."""
    endpoint = HOME_BY_ROLE.get(role() or "")
    if endpoint:
        return redirect(url_for(endpoint))
    return render_template("home.html")
