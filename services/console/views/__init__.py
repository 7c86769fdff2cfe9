"""The console's pages, one blueprint per kind of user."""

from __future__ import annotations

from flask import Blueprint


def blueprints() -> list[Blueprint]:
    """Every page blueprint."""
    from services.console.views import agent, contacts, marketer, operator

    return [agent.bp, marketer.bp, contacts.bp, operator.bp]
