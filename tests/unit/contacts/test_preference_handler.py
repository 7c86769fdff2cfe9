"""The preference center's use cases and the topic catalogue against in-memory fakes, and the page's HTML."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.contacts.api.preference_center import render
from services.contacts.domain.preferences import Choice
from services.contacts.handlers import topics
from services.contacts.handlers.preferences import add_suppression, preference_page, save_preferences
from shared.errors import Invalid, NotFound
from tests.unit.contacts.fakes import FakeUnitOfWork


def _uow(locale: str | None = None) -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    uow.contacts.add("c1", locale=locale)
    topics.put_topic(uow, "mortgage", {"en": "Mortgages", "de": "Hypotheken"})
    topics.put_topic(uow, "investment", {"en": "Investing"})
    return uow


def _active(uow: FakeUnitOfWork) -> list[tuple]:
    return sorted((r.scope, r.value, r.source) for r in uow.contacts.suppressions("c1", active_at=datetime.now(UTC)))


def test_saving_records_each_change_with_source_preference_center_through_the_outbox() -> None:
    uow = _uow()
    page = save_preferences(uow, "c1", Choice("save", {"email": "granted", "sms": "denied"},
                                              ("investment", "mortgage"), frozenset({"investment"})))
    assert page.changed == 3
    assert {k: v["status"] for k, v in uow.contacts.consent_rows.items()} == {("c1", "email"): "granted",
                                                                              ("c1", "sms"): "denied"}
    assert {v["source"] for v in uow.contacts.consent_rows.values()} == {"preference_center"}
    assert _active(uow) == [("topic", "mortgage", "preference_center")]
    assert [m["type"] for m in uow.published] == ["contact.consent.changed", "contact.consent.changed",
                                                  "contact.suppression.changed"]
    assert not page.preferences.subscribed("mortgage") and page.preferences.subscribed("investment")

    # the same choice again: nothing recorded, nothing published
    again = save_preferences(uow, "c1", Choice("save", {"email": "granted", "sms": "denied"},
                                               ("investment", "mortgage"), frozenset({"investment"})))
    assert again.changed == 0 and len(uow.published) == 3

    # re-subscribing lifts the preference center's topic suppression, announced as lifted
    save_preferences(uow, "c1", Choice("save", {}, ("investment", "mortgage"), frozenset({"investment", "mortgage"})))
    assert _active(uow) == []
    assert uow.published[-1]["payload"]["active"] is False


def test_everything_stops_all_and_a_one_click_topic_stop_can_be_undone_but_a_legal_hold_not() -> None:
    uow = _uow()
    add_suppression(uow, "c1", {"scope": "topic", "value": "travel", "reason": "unsubscribed", "source": "one_click"})
    add_suppression(uow, "c1", {"scope": "topic", "value": "investment", "reason": "legal", "source": "api"})
    page = preference_page(uow, "c1")
    assert [t.key for t in page.preferences.topics] == ["investment", "mortgage", "travel"]
    save_preferences(uow, "c1", Choice("save", {}, ("investment", "mortgage", "travel"),
                                       frozenset({"investment", "mortgage", "travel"})))
    assert _active(uow) == [("topic", "investment", "api")]
    save_preferences(uow, "c1", Choice("everything", {}, (), frozenset()))
    assert ("global", None, "preference_center") in _active(uow)


def test_an_unknown_contact_is_not_found_and_an_erased_one_changes_nothing() -> None:
    uow = _uow()
    with pytest.raises(NotFound):
        preference_page(uow, "nobody")
    uow.contacts.add("gone", erased_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert save_preferences(uow, "gone", Choice("everything", {}, (), frozenset())).preferences is None
    assert uow.published == []


def test_the_catalogue_is_kept_by_key_and_refuses_a_key_campaigns_could_not_name() -> None:
    uow = _uow()
    topics.put_topic(uow, "mortgage", {"en": "Home loans"})
    assert [(t["key"], t["labels"]["en"]) for t in topics.list_topics(uow)] == [("investment", "Investing"),
                                                                               ("mortgage", "Home loans")]
    with pytest.raises(Invalid) as caught:
        topics.put_topic(uow, "Bad Key", {"en": "x"})
    assert "key" in caught.value.errors
    topics.delete_topic(uow, "investment")
    with pytest.raises(NotFound):
        topics.delete_topic(uow, "investment")


def test_the_page_is_in_the_contacts_language_with_labels_legends_and_nothing_unescaped() -> None:
    uow = _uow(locale="de-DE")
    topics.put_topic(uow, "evil", {"en": "<script>alert(1)</script>"})
    page = preference_page(uow, "c1")
    html = render("v1.abc.def", page, "de", "saved")
    assert html.startswith('<!doctype html><html lang="de">')
    assert "Hypotheken" in html and "Auswahl speichern" in html and "Von allem abmelden" in html
    assert '<script>' not in html and "&lt;script&gt;" in html
    assert html.count("<legend>") == 5  # channels, each channel, topics
    assert 'action="/p/v1.abc.def"' in html and 'role="status"' in html
    assert 'id="consent_email_granted"' in html and '<label for="consent_email_granted">' in html
    assert html.index('value="save"') < html.index('value="everything"')  # Enter saves, never "everything"
    assert "checked" not in html.split('name="topic"')[0]  # unanswered channels: nothing preselected
