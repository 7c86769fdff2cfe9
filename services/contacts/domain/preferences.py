"""The preference center's rules, in plain Python: what the page shows, what a submitted form means.

The page (services/contacts/api/preference_center.py) shows a contact's consent on each marketing
channel and their topic subscriptions, in their language; submitting it is turned here into the
list of consent and suppression changes that the handlers record with source `preference_center`.

- A channel is a yes/no question with no answer preselected while consent is `unknown`: a
  pre-ticked box is not consent (GDPR recital 32), so a contact who never answered and just saves
  records nothing for that channel. "Yes" records `granted` and lifts the contact's own stops of
  that channel (`one_click` / `preference_center` suppressions); "No" records `denied`.
- A topic is a checkbox: ticked means subscribed (no active suppression of that topic). Unticking
  adds a topic suppression (reason `unsubscribed`); ticking again lifts the suppressions the
  contact made themselves. A stop the contact did not make (a bounce, a legal hold) is never
  lifted here.
- "Unsubscribe from everything" adds one global suppression; saving choices afterwards lifts it.
- Only what the form showed is changed: the topics shown travel with the form, so a topic added
  to the catalogue between showing and saving is not taken as unticked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SOURCE = "preference_center"
CHANNELS = ("email", "sms", "call")
# Suppressions the contact made themselves, which their own later choice may lift.
OWN_SOURCES = frozenset({"one_click", SOURCE})
LANGUAGES = ("en", "de")
DEFAULT_LANGUAGE = "en"
TOPIC_KEY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")  # the catalogue's keys

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your communication preferences",
        "intro": "Choose how and about what we may contact you. Messages we must send you, such as "
                 "receipts, are not affected.",
        "channels": "How may we send you marketing?",
        "channel.email": "Email", "channel.sms": "Text messages (SMS)", "channel.call": "Phone calls",
        "yes": "Yes", "no": "No",
        "topics": "Topics",
        "topics.hint": "Tick the topics you want to hear about.",
        "no_topics": "There are no topics to choose from.",
        "save": "Save my choices",
        "everything": "Unsubscribe from everything",
        "everything.hint": "Stops every marketing message on every channel.",
        "saved": "Your choices are saved. They reach our sending systems within seconds.",
        "unchanged": "Nothing changed: these were already your choices.",
        "everything.done": "You are unsubscribed from everything. Saving your choices below subscribes you again "
                           "to what you tick.",
        "held": "Some messages stay stopped for a reason you cannot change here (for example, an address that "
                "bounced).",
        "erased.title": "Nothing to manage",
        "erased.text": "We hold no data about you and send you nothing.",
        "skip": "Skip to your choices",
    },
    "de": {
        "title": "Ihre Kommunikations\u00adeinstellungen",  # a soft hyphen: a phone breaks it there
        "intro": "Wählen Sie, wie und worüber wir Sie kontaktieren dürfen. Nachrichten, die wir Ihnen senden "
                 "müssen, etwa Quittungen, sind davon nicht betroffen.",
        "channels": "Wie dürfen wir Ihnen Werbung senden?",
        "channel.email": "E-Mail", "channel.sms": "Textnachrichten (SMS)", "channel.call": "Telefonanrufe",
        "yes": "Ja", "no": "Nein",
        "topics": "Themen",
        "topics.hint": "Kreuzen Sie die Themen an, über die Sie informiert werden möchten.",
        "no_topics": "Es gibt keine Themen zur Auswahl.",
        "save": "Auswahl speichern",
        "everything": "Von allem abmelden",
        "everything.hint": "Beendet jede Werbenachricht auf jedem Kanal.",
        "saved": "Ihre Auswahl ist gespeichert. Sie erreicht unsere Versandsysteme innerhalb von Sekunden.",
        "unchanged": "Nichts geändert: Das war bereits Ihre Auswahl.",
        "everything.done": "Sie sind von allem abgemeldet. Wenn Sie unten Ihre Auswahl speichern, erhalten Sie "
                           "wieder, was Sie ankreuzen.",
        "held": "Manche Nachrichten bleiben aus einem Grund gestoppt, den Sie hier nicht ändern können "
                "(zum Beispiel eine unzustellbare Adresse).",
        "erased.title": "Nichts zu verwalten",
        "erased.text": "Wir speichern keine Daten über Sie und senden Ihnen nichts.",
        "skip": "Zu Ihrer Auswahl springen",
    },
}


def language(locale: str | None, accept_language: str | None = None) -> str:
    """The page's language: the contact's locale (`de-AT` → `de`), else the browser's first supported one, else English.

    The contact's recorded locale wins: it is what their messages are written in; the browser's
    Accept-Language only helps when the profile has none.
    """
    for candidate in [locale or "", *_accepted(accept_language or "")]:
        primary = candidate.strip().split("-")[0].split("_")[0].lower()
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


def _accepted(header: str) -> list[str]:
    """The languages of an Accept-Language header, most preferred first (q=0 left out)."""
    ranked = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        if tag and weight > 0:
            ranked.append((-weight, position, tag))
    return [tag for _, _, tag in sorted(ranked)]


def text(lang: str, key: str) -> str:
    """A text of the page in `lang`, English where the translation lacks it."""
    return TEXTS.get(lang, {}).get(key) or TEXTS[DEFAULT_LANGUAGE][key]


@dataclass(frozen=True)
class Topic:
    """A topic of the catalogue: its key (what campaigns name as `topic`) and its label per language."""

    key: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def label(self, lang: str) -> str:
        """The label in `lang`, else English, else the key itself."""
        return self.labels.get(lang) or self.labels.get(DEFAULT_LANGUAGE) or self.key


@dataclass(frozen=True)
class Stop:
    """An active suppression of the contact: global, or of one channel or topic."""

    id: str
    scope: str
    value: str | None
    source: str | None

    @property
    def own(self) -> bool:
        """Whether the contact made it themselves (and so may lift it from the page)."""
        return self.source in OWN_SOURCES


@dataclass(frozen=True)
class Preferences:
    """What the page shows: consent per channel, the topics, and the contact's active suppressions."""

    consents: Mapping[str, str]
    topics: tuple[Topic, ...]
    stops: tuple[Stop, ...]

    def channel_answer(self, channel: str) -> str | None:
        """`granted`, `denied` or None (never answered) as the page preselects it.

        A channel stopped by a suppression shows as "No" whatever the consent says: that is what
        the contact gets.
        """
        if self.everything_off or any(s.scope == "channel" and s.value == channel for s in self.stops):
            return "denied"
        status = self.consents.get(channel)
        return status if status in ("granted", "denied") else None

    def subscribed(self, topic: str) -> bool:
        """Whether messages about `topic` may reach the contact (no active suppression of it, no global one)."""
        return not self.everything_off and not any(s.scope == "topic" and s.value == topic for s in self.stops)

    @property
    def everything_off(self) -> bool:
        """Whether a global suppression is active."""
        return any(s.scope == "global" for s in self.stops)

    @property
    def held(self) -> bool:
        """Whether a stop the contact cannot lift here is active (bounce, complaint, legal, ...)."""
        return any(not s.own for s in self.stops)


def preferences(consents: Mapping[str, str], catalogue: Sequence[Topic], stops: Sequence[Stop]) -> Preferences:
    """The page's state: the catalogue's topics, then any topic only a suppression names (so it can be undone)."""
    known = {t.key for t in catalogue}
    extra = sorted({s.value for s in stops if s.scope == "topic" and s.value and s.value not in known})
    return Preferences(dict(consents), (*catalogue, *(Topic(key) for key in extra)), tuple(stops))


@dataclass(frozen=True)
class Choice:
    """A submitted form: the action, the channel answers, the topics shown and those ticked."""

    action: str
    consents: Mapping[str, str]
    shown: tuple[str, ...]
    subscribed: frozenset[str]


class FormError(ValueError):
    """A form field that contradicts the page; `field` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def choice(form: Mapping[str, Any]) -> Choice:
    """The choice a posted form makes, from its fields as the form schema loaded them (each one valid).

    What no single field shows is checked here: a ticked topic must be one the page showed.
    """
    consents = {channel: form[f"consent_{channel}"] for channel in CHANNELS if form.get(f"consent_{channel}")}
    shown = tuple(dict.fromkeys(form.get("shown") or ()))
    ticked = frozenset(form.get("topic") or ())
    if not ticked <= set(shown):
        raise FormError("topic", "names a topic the page did not show")
    return Choice(form.get("action") or "save", consents, shown, ticked)


@dataclass(frozen=True)
class Change:
    """One change to record: `consent` (channel, status), `suppress` (scope, value) or `lift` (suppression_id)."""

    kind: str
    channel: str | None = None
    status: str | None = None
    scope: str | None = None
    value: str | None = None
    suppression_id: str | None = None


def changes(current: Preferences, choice: Choice) -> list[Change]:
    """What to record so the contact's preferences become `choice`; empty when they already are."""
    if choice.action == "everything":
        return [] if current.everything_off else [Change("suppress", scope="global")]
    out = [Change("lift", suppression_id=s.id) for s in current.stops if s.scope == "global" and s.own]
    for channel, answer in choice.consents.items():
        if current.consents.get(channel) != answer:
            out.append(Change("consent", channel=channel, status=answer))
        if answer == "granted":
            out += [Change("lift", suppression_id=s.id) for s in current.stops
                    if s.scope == "channel" and s.value == channel and s.own]
    for key in choice.shown:
        stops = [s for s in current.stops if s.scope == "topic" and s.value == key]
        if key in choice.subscribed:
            out += [Change("lift", suppression_id=s.id) for s in stops if s.own]
        elif not stops:
            out.append(Change("suppress", scope="topic", value=key))
    return out
