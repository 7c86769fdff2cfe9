"""The preference center's pure rules: the page's language, what it shows, what a submitted form changes."""

from __future__ import annotations

import pytest

from services.contacts.domain.preferences import (
    CHANNELS,
    TEXTS,
    Change,
    FormError,
    Stop,
    Topic,
    changes,
    choice,
    language,
    preferences,
    text,
)
from services.contacts.schemas import PreferenceFormSchema

CATALOGUE = [Topic("investment", {"en": "Investing", "de": "Geldanlage"}), Topic("mortgage", {"en": "Mortgages"})]


@pytest.mark.parametrize(("locale", "accept", "expected"), [
    ("de-AT", "en", "de"), ("de_CH", None, "de"), ("en-GB", "de", "en"), ("fr", None, "en"), (None, None, "en"),
    (None, "fr-FR, de;q=0.8, en;q=0.5", "de"), (None, "en;q=0.1, de;q=0.9", "de"), (None, "de;q=0, en", "en"),
    ("", "garbage;;q=x", "en"),
])
def test_the_language_is_the_contacts_then_the_browsers_then_english(locale, accept, expected) -> None:
    assert language(locale, accept) == expected


def test_every_text_has_its_german_translation_and_a_label_falls_back_to_english_then_the_key() -> None:
    assert set(TEXTS["de"]) == set(TEXTS["en"])
    assert text("de", "save") == "Auswahl speichern" and text("xx", "save") == "Save my choices"
    assert CATALOGUE[0].label("de") == "Geldanlage" and CATALOGUE[1].label("de") == "Mortgages"
    assert Topic("travel").label("de") == "travel"


def test_the_page_shows_the_catalogue_and_topics_only_a_suppression_knows_with_their_state() -> None:
    stops = [Stop("s1", "topic", "travel", "one_click"), Stop("s2", "channel", "sms", "api"),
             Stop("s3", "topic", "mortgage", "preference_center")]
    shown = preferences({"email": "granted", "call": "denied"}, CATALOGUE, stops)
    assert [t.key for t in shown.topics] == ["investment", "mortgage", "travel"]
    assert [shown.subscribed(t.key) for t in shown.topics] == [True, False, False]
    # sms: consent unknown, but a suppression stops it — "No"; call refused; email granted
    assert [shown.channel_answer(c) for c in CHANNELS] == ["granted", "denied", "denied"]
    assert shown.held and not shown.everything_off
    assert preferences({}, CATALOGUE, []).channel_answer("email") is None  # never answered: nothing preselected


def _choice(**form) -> object:
    return choice(PreferenceFormSchema().load(form))


def test_an_untouched_form_changes_nothing_and_an_unanswered_channel_stays_unanswered() -> None:
    current = preferences({"email": "granted"}, CATALOGUE, [])
    form = _choice(consent_email="granted", shown=["investment", "mortgage"], topic=["investment", "mortgage"])
    assert changes(current, form) == []


def test_unticking_a_topic_suppresses_it_and_ticking_lifts_only_the_contacts_own_stops() -> None:
    current = preferences({}, CATALOGUE, [Stop("s1", "topic", "mortgage", "one_click"),
                                          Stop("s2", "topic", "mortgage", "legal")])
    form = _choice(shown=["investment", "mortgage"], topic=["mortgage"])
    assert changes(current, form) == [Change("suppress", scope="topic", value="investment"),
                                      Change("lift", suppression_id="s1")]


def test_a_channel_answer_records_consent_and_yes_lifts_the_contacts_own_channel_stop() -> None:
    current = preferences({"sms": "granted"}, [], [Stop("s1", "channel", "email", "one_click"),
                                                   Stop("s2", "channel", "email", "bounce_webhook")])
    form = _choice(consent_email="granted", consent_sms="denied", consent_call="granted")
    assert changes(current, form) == [Change("consent", channel="email", status="granted"),
                                      Change("lift", suppression_id="s1"),
                                      Change("consent", channel="sms", status="denied"),
                                      Change("consent", channel="call", status="granted")]


def test_everything_adds_one_global_stop_and_saving_afterwards_lifts_it() -> None:
    current = preferences({}, CATALOGUE, [])
    assert changes(current, _choice(action="everything", consent_email="granted")) == [Change("suppress",
                                                                                              scope="global")]
    off = preferences({}, CATALOGUE, [Stop("g1", "global", None, "preference_center")])
    assert changes(off, _choice(action="everything")) == []  # pressing it twice adds nothing
    assert off.everything_off and not off.subscribed("investment") and off.channel_answer("email") == "denied"
    assert changes(off, _choice(shown=["investment"], topic=["investment"])) == [Change("lift", suppression_id="g1")]
    erased = preferences({}, [], [Stop("g2", "global", None, "erasure")])
    assert changes(erased, _choice()) == []  # not the contact's own stop: never lifted from the page


def test_a_topic_added_to_the_catalogue_after_the_page_was_shown_is_left_alone() -> None:
    current = preferences({}, [*CATALOGUE, Topic("pensions")], [])
    assert changes(current, _choice(shown=["investment", "mortgage"], topic=["investment", "mortgage"])) == []


@pytest.mark.parametrize(("form", "field"), [
    ({"action": "delete"}, "action"), ({"consent_sms": "maybe"}, "consent_sms"),
    ({"shown": [""]}, "shown"), ({"shown": ["x" * 65]}, "shown"), ({"topic": ["x" * 65]}, "topic"),
])
def test_a_bad_field_is_refused_by_the_form_schema_naming_it(form, field) -> None:
    from marshmallow import ValidationError

    with pytest.raises(ValidationError) as caught:
        PreferenceFormSchema().load(form)
    assert field in caught.value.messages


def test_a_ticked_topic_the_page_did_not_show_is_refused_naming_the_field() -> None:
    with pytest.raises(FormError) as caught:
        _choice(shown=["mortgage"], topic=["mortgage", "crypto"])
    assert caught.value.field == "topic"
    assert _choice(unknown_field="ignored").action == "save"
