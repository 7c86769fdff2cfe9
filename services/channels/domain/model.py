"""The contact-policy vocabulary: messages, touches, rules and the decision the gate makes.

Plain frozen dataclasses. Every constructor validates its own invariants, so that
``decide`` can be total over any object that could be built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING

from services.channels.domain.control_group import ControlGroup

if TYPE_CHECKING:  # capacity.py builds on this module
    from services.channels.domain.capacity import CapacityRule


class Channel(StrEnum):
    """The channels shipped with Touchpoint; adapters may add others, so messages carry a plain str."""

    EMAIL = "email"
    SMS = "sms"
    CALL = "call"
    WEB = "web"


class Category(StrEnum):
    """Why a message is sent; decides which rules of the gate apply to it."""

    TRANSACTIONAL = "transactional"
    SERVICE = "service"
    MARKETING = "marketing"


class TouchState(StrEnum):
    """A touch counts against caps from the moment it is reserved."""

    RESERVED = "reserved"
    SENT = "sent"


class CapScope(StrEnum):
    """Which touches a frequency cap counts."""

    ALL = "all"
    CHANNEL = "channel"
    CATEGORY = "category"
    CAMPAIGN = "campaign"


class SuppressionScope(StrEnum):
    """What a suppression covers."""

    GLOBAL = "global"
    CHANNEL = "channel"
    TOPIC = "topic"


class SuppressionReason(StrEnum):
    """Why a contact is suppressed; see HARD_REASONS for which ones also stop transactional mail."""

    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    DO_NOT_CALL = "do_not_call"
    STOP = "stop"
    LEGAL = "legal"
    ERASED = "erased"
    PRODUCT_HELD = "product_held"
    MERGED = "merged"  # a profile folded into another (contact.merged): its survivor is addressed instead

    @property
    def is_hard(self) -> bool:
        """True when the reason blocks every category, transactional included."""
        return self in HARD_REASONS


# A bounced address or an erased contact cannot be reached even for a receipt (nor a merged-away
# profile: the survivor gets it); an unsubscribe or a product hold only concerns what we choose to say.
HARD_REASONS: frozenset[SuppressionReason] = frozenset(
    {
        SuppressionReason.BOUNCED,
        SuppressionReason.COMPLAINED,
        SuppressionReason.DO_NOT_CALL,
        SuppressionReason.STOP,
        SuppressionReason.LEGAL,
        SuppressionReason.ERASED,
        SuppressionReason.MERGED,
    }
)


class ConsentStatus(StrEnum):
    """A contact's recorded consent for one channel."""

    GRANTED = "granted"
    DENIED = "denied"
    UNKNOWN = "unknown"


class Outcome(StrEnum):
    """What the gate decided; everything but DEFER is final for the message.

    ALREADY_DECIDED is the answer to a redelivery: the request was decided before, so nothing is
    recorded or announced again. DUPLICATE: another request holds this campaign step occurrence.
    """

    SEND = "send"
    DEFER = "defer"
    SUPPRESS = "suppress"
    CAP = "cap"
    EXPIRE = "expire"
    DUPLICATE = "duplicate"
    ALREADY_DECIDED = "already_decided"


# (campaign, step, contact, occurrence): invariant 3 allows one send per key.
StepKey = tuple[str, str, str, str]


def _require_aware(name: str, value: datetime | None) -> None:
    if value is None:
        return
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _require_channel(value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError("channel must be a non-empty str")


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One message asking to pass the gate; ``priority`` orders queues and does not affect the decision."""

    channel: str
    category: Category
    contact_id: str
    campaign_id: str | None = None
    topic: str | None = None
    priority: int = 0
    expires_at: datetime | None = None
    request_id: str = ""
    attempt: int = 0  # how often the request was deferred before (its `deferrals`)
    step_id: str | None = None
    occurrence: str | None = None

    def __post_init__(self) -> None:
        _require_channel(self.channel)
        object.__setattr__(self, "channel", str(self.channel))
        object.__setattr__(self, "category", Category(self.category))
        _require_aware("expires_at", self.expires_at)

    @property
    def step_key(self) -> StepKey | None:
        """(campaign, step, contact, occurrence) of a campaign step's message; None for other messages."""
        if not self.campaign_id or not self.step_id:
            return None
        return (self.campaign_id, self.step_id, self.contact_id, self.occurrence or "")


@dataclass(frozen=True, slots=True)
class Touch:
    """A message reserved or sent to the contact; failed-for-good touches are not passed in."""

    channel: str
    category: Category
    campaign_id: str | None
    topic: str | None
    at: datetime
    state: TouchState = TouchState.SENT

    def __post_init__(self) -> None:
        _require_channel(self.channel)
        object.__setattr__(self, "channel", str(self.channel))
        object.__setattr__(self, "category", Category(self.category))
        object.__setattr__(self, "state", TouchState(self.state))
        if self.at is None:
            raise ValueError("at is required")
        _require_aware("at", self.at)


@dataclass(frozen=True, slots=True)
class PlannedSend:
    """A message already planned for the contact: a drip send step waiting in the scheduler, or a message
    the gate deferred. Higher-priority plans hold slots of the contact's caps (the look-ahead rule).

    ``step_key`` (a drip step's plan) or ``request_id`` (a deferred request) says which incoming message
    is this plan, so the plan stops counting once that message is decided.
    """

    plan_id: str
    channel: str
    category: Category
    priority: int
    due_at: datetime
    campaign_id: str | None = None
    step_key: StepKey | None = None
    request_id: str | None = None

    def __post_init__(self) -> None:
        _require_channel(self.channel)
        object.__setattr__(self, "channel", str(self.channel))
        object.__setattr__(self, "category", Category(self.category))
        if self.due_at is None:
            raise ValueError("due_at is required")
        _require_aware("due_at", self.due_at)
        if self.step_key is not None:
            object.__setattr__(self, "step_key", tuple(self.step_key))

    def is_for(self, message: OutboundMessage) -> bool:
        """True when ``message`` is the planned message itself (it arrived, so the plan is over)."""
        if self.request_id is not None and self.request_id == message.request_id:
            return True
        return self.step_key is not None and self.step_key == message.step_key


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``limit`` touches in any rolling ``window``, counting the touches in ``scope``."""

    id: str
    limit: int
    window: timedelta
    scope: CapScope = CapScope.ALL
    scope_value: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scope", CapScope(self.scope))
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 0:
            raise ValueError(f"cap {self.id!r}: limit must be an int >= 0")
        if not isinstance(self.window, timedelta) or self.window <= timedelta(0):
            raise ValueError(f"cap {self.id!r}: window must be a positive timedelta")
        if self.scope is CapScope.ALL:
            if self.scope_value is not None:
                raise ValueError(f"cap {self.id!r}: scope 'all' takes no scope_value")
        elif not self.scope_value:
            raise ValueError(f"cap {self.id!r}: scope {self.scope.value!r} needs a scope_value")
        if self.scope is CapScope.CATEGORY:
            # Transactional messages bypass caps, so a cap on them could never hold.
            if Category(self.scope_value) is Category.TRANSACTIONAL:
                raise ValueError(f"cap {self.id!r}: transactional messages are never capped")
            object.__setattr__(self, "scope_value", Category(self.scope_value).value)


@dataclass(frozen=True, slots=True)
class SendWindow:
    """Local wall-clock hours on the given weekdays (0=Mon) when sending is allowed.

    ``start > end`` crosses midnight and belongs to the weekday it starts on;
    ``start == end`` allows the whole 24 hours from ``start``.
    """

    weekdays: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        days = frozenset(self.weekdays)
        if not days or not days <= frozenset(range(7)):
            raise ValueError("weekdays must be a non-empty subset of 0..6 (0=Monday)")
        object.__setattr__(self, "weekdays", days)
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, time) or value.tzinfo is not None:
                raise ValueError(f"{name} must be a naive datetime.time (local wall clock)")

    @property
    def length(self) -> timedelta:
        """How long one occurrence of the window lasts."""
        today = datetime(2000, 1, 3)
        span = datetime.combine(today, self.end) - datetime.combine(today, self.start)
        return span if span > timedelta(0) else span + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Per channel, the windows when sending is allowed; a channel without windows is unrestricted."""

    windows: Mapping[str, tuple[SendWindow, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        frozen = {str(channel): tuple(windows) for channel, windows in dict(self.windows).items()}
        object.__setattr__(self, "windows", MappingProxyType(frozen))

    def for_channel(self, channel: str) -> tuple[SendWindow, ...]:
        """The send windows of ``channel``; empty means no restriction."""
        return self.windows.get(channel, ())


@dataclass(frozen=True, slots=True)
class Suppression:
    """A standing reason not to contact someone, globally, on one channel or about one topic."""

    id: str
    scope: SuppressionScope
    value: str | None
    reason: SuppressionReason
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "scope", SuppressionScope(self.scope))
        object.__setattr__(self, "reason", SuppressionReason(self.reason))
        if self.scope is not SuppressionScope.GLOBAL and not self.value:
            raise ValueError(f"suppression {self.id!r}: scope {self.scope.value!r} needs a value")
        _require_aware("expires_at", self.expires_at)

    def is_active(self, now: datetime) -> bool:
        """True unless the suppression has expired by ``now``."""
        return self.expires_at is None or self.expires_at.astimezone(UTC) > now.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class PriorDecisions:
    """What the gate already decided for one request: the attempts seen, and whether one was final."""

    attempts: frozenset[int] = frozenset()
    final: bool = False

    def covers(self, attempt: int) -> bool:
        """True when deciding ``attempt`` again would decide the request twice."""
        return self.final or attempt in self.attempts


@dataclass(frozen=True, slots=True)
class ContactPolicyState:
    """Everything the gate knows about one contact, loaded under the contact's lock.

    ``decided`` holds the prior decisions of the requests being decided (by request id),
    ``live_steps`` the campaign step occurrences that already hold a reserved or sent touch, and
    ``planned`` the messages planned for the contact that are not sent yet (drip steps, deferrals).
    """

    time_zone: str | None = None
    consents: Mapping[str, ConsentStatus] = field(default_factory=dict)
    suppressions: tuple[Suppression, ...] = ()
    touches: tuple[Touch, ...] = ()
    decided: Mapping[str, PriorDecisions] = field(default_factory=dict)
    live_steps: frozenset[StepKey] = frozenset()
    planned: tuple[PlannedSend, ...] = ()

    def __post_init__(self) -> None:
        if self.time_zone is not None and not isinstance(self.time_zone, str):
            raise TypeError("time_zone must be an IANA name (str) or None")
        consents = {str(channel): ConsentStatus(status) for channel, status in dict(self.consents).items()}
        object.__setattr__(self, "consents", MappingProxyType(consents))
        object.__setattr__(self, "suppressions", tuple(self.suppressions))
        object.__setattr__(self, "touches", tuple(self.touches))
        object.__setattr__(self, "decided", MappingProxyType(dict(self.decided)))
        object.__setattr__(self, "live_steps", frozenset(self.live_steps))
        object.__setattr__(self, "planned", tuple(self.planned))

    def consent_for(self, channel: str) -> ConsentStatus:
        """The recorded consent for ``channel``; unknown when nothing was recorded."""
        return self.consents.get(channel, ConsentStatus.UNKNOWN)


_MON_SAT = frozenset(range(6))
_EVERY_DAY = frozenset(range(7))


@dataclass(frozen=True, slots=True)
class PolicyRules:
    """The tenant-wide rules of the gate."""

    caps: tuple[FrequencyCap, ...] = ()
    min_marketing_gap: timedelta | None = None
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    opt_in_channels: frozenset[str] = frozenset()
    control_group: ControlGroup | None = None  # None: off (the default)
    capacity: tuple[CapacityRule, ...] = ()  # checked in this order (domain/capacity.py)

    def __post_init__(self) -> None:
        for name, what in (("caps", "cap"), ("capacity", "capacity rule")):
            rules = tuple(getattr(self, name))
            if len({rule.id for rule in rules}) != len(rules):
                raise ValueError(f"{what} ids must be unique")
            object.__setattr__(self, name, rules)
        object.__setattr__(self, "opt_in_channels", frozenset(str(c) for c in self.opt_in_channels))
        if self.min_marketing_gap is not None and self.min_marketing_gap < timedelta(0):
            raise ValueError("min_marketing_gap must not be negative")

    @classmethod
    def defaults(cls) -> PolicyRules:
        """The shipped defaults.

        - cap ``marketing-weekly``: 3 marketing touches per rolling 7 days, all channels;
        - cap ``sms-daily``: 1 non-transactional SMS per rolling 24 hours;
        - at least 4 hours between two marketing touches on any channel;
        - quiet hours (contact's local time): email 08:00-21:00 every day,
          sms and call 09:00-20:00 Monday to Saturday, web unrestricted;
        - email and sms need opt-in consent for marketing.
        """
        return cls(
            caps=(
                FrequencyCap("marketing-weekly", 3, timedelta(days=7), CapScope.CATEGORY, Category.MARKETING),
                FrequencyCap("sms-daily", 1, timedelta(days=1), CapScope.CHANNEL, Channel.SMS),
            ),
            min_marketing_gap=timedelta(hours=4),
            quiet_hours=QuietHours(
                {
                    Channel.EMAIL: (SendWindow(_EVERY_DAY, time(8), time(21)),),
                    Channel.SMS: (SendWindow(_MON_SAT, time(9), time(20)),),
                    Channel.CALL: (SendWindow(_MON_SAT, time(9), time(20)),),
                }
            ),
            opt_in_channels=frozenset({Channel.EMAIL, Channel.SMS}),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """The gate's answer for one message, with the rule that made it."""

    outcome: Outcome
    reason: str
    rule_id: str | None = None
    defer_until: datetime | None = None
    detail: str = ""
    yielded_to: str | None = None  # the plan id a look-ahead cap decision gave way to

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))
        _require_aware("defer_until", self.defer_until)

    @property
    def is_final(self) -> bool:
        """True for every outcome but defer: the message will not come back to the gate."""
        return self.outcome is not Outcome.DEFER
