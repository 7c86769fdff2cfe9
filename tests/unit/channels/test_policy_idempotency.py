"""Property tests: invariant 3 and redelivery in `decide` over random request streams.

Which property test proves which invariant of docs/ARCHITECTURE.md:

1. caps across channels             test_policy_properties.test_a_sequential_sends_never_exceed_any_cap
2. no marketing after suppression   test_policy_properties.test_d_marketing_never_sent_while_suppressed
3. one send per step occurrence     test_one_send_per_step_occurrence_and_one_decision_per_request (here)
4. every request gets an outcome    test_policy_properties.test_decide_is_total and
                                    test_every_new_request_gets_exactly_one_recorded_outcome (here)
5. quiet hours unless transactional test_policy_properties.test_b_... and test_c_...

The gate is simulated the way the handler drives the domain: decide, then `apply_decision`, the
state carried from one message to the next. The oracle is a log kept here, not the module's state.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.channels.domain import (
    Category,
    ContactPolicyState,
    FrequencyCap,
    OutboundMessage,
    Outcome,
    PolicyRules,
    PriorDecisions,
    QuietHours,
    SendWindow,
    apply_decision,
    decide,
)
from tests.properties import examples

START = datetime(2024, 5, 6, 6, 0, tzinfo=UTC)
STEPS = (None, ("camp1", "s1", "1"), ("camp1", "s1", "2"), ("camp1", "s2", "1"), ("camp2", "s1", "1"))
REQUESTS = 6

# One request always names the same step (its identity); the stream redelivers requests, brings them
# back deferred (a higher attempt) and sends different requests for the same step occurrence.
request_steps = st.lists(st.sampled_from(STEPS), min_size=REQUESTS, max_size=REQUESTS)
request_categories = st.lists(st.sampled_from(list(Category)), min_size=REQUESTS, max_size=REQUESTS)
stream = st.lists(st.tuples(st.integers(0, REQUESTS - 1), st.integers(0, 2), st.integers(0, 180)), max_size=30)
initially_live = st.frozensets(st.sampled_from([s for s in STEPS if s is not None]), max_size=2)
initially_decided = st.dictionaries(st.integers(0, REQUESTS - 1),
                                    st.tuples(st.frozensets(st.integers(0, 2), max_size=2), st.booleans()),
                                    max_size=3)
rule_sets = st.sampled_from([
    PolicyRules(),
    PolicyRules(caps=(FrequencyCap("tight", 2, timedelta(hours=6)),)),
    PolicyRules(quiet_hours=QuietHours({ch: (SendWindow(frozenset(range(7)), time(8), time(9)),)
                                        for ch in ("email", "sms")})),
    PolicyRules.defaults(),
])


def _message(index: int, attempt: int, steps: list, categories: list) -> OutboundMessage:
    step = steps[index]
    campaign, step_id, occurrence = step if step is not None else (None, None, None)
    return OutboundMessage(("email", "sms", "call")[index % 3], categories[index], "c1", campaign,
                           request_id=f"r{index}", attempt=attempt, step_id=step_id, occurrence=occurrence)


@settings(max_examples=examples(1500), deadline=None)
@given(steps=request_steps, categories=request_categories, events=stream, live=initially_live,
       prior=initially_decided, rules=rule_sets)
def test_one_send_per_step_occurrence_and_one_decision_per_request(
    steps: list, categories: list, events: list, live: frozenset, prior: dict, rules: PolicyRules
) -> None:
    live_keys = frozenset((c, s, "c1", o) for c, s, o in live)
    decided = {f"r{i}": PriorDecisions(attempts, final) for i, (attempts, final) in prior.items()}
    state = ContactPolicyState("Europe/Berlin", {"email": "granted", "sms": "granted"}, (), (), decided, live_keys)
    now, log = START, []
    for index, attempt, minutes in events:
        now += timedelta(minutes=minutes)
        message = _message(index, attempt, steps, categories)
        decision = decide(message, state, rules, now)
        log.append((message, decision))
        state = apply_decision(state, message, decision, now)

    recorded = [(m, d) for m, d in log if d.outcome is not Outcome.ALREADY_DECIDED]
    sends = Counter(m.step_key for m, d in recorded if d.outcome is Outcome.SEND and m.step_key is not None)
    for key, count in sends.items():
        assert count == 1, key
        assert key not in live_keys, key  # a step occurrence already live never sends again
    finals = Counter(m.request_id for m, d in recorded if d.is_final)
    for request_id, count in finals.items():
        assert count == 1, request_id
        assert not (request_id in decided and decided[request_id].final), request_id
    attempts = Counter((m.request_id, m.attempt) for m, _ in recorded)
    assert all(count == 1 for count in attempts.values())
    for request_id, prior_decisions in decided.items():
        assert all((request_id, a) not in attempts for a in prior_decisions.attempts)


@settings(max_examples=examples(1000), deadline=None)
@given(steps=request_steps, categories=request_categories, events=stream, rules=rule_sets)
def test_every_new_request_gets_exactly_one_recorded_outcome(
    steps: list, categories: list, events: list, rules: PolicyRules
) -> None:
    state = ContactPolicyState("Europe/Berlin", {"email": "granted"})
    seen_attempts: set[tuple[str, int]] = set()
    final: set[str] = set()
    live: set = set()
    now = START
    for index, attempt, minutes in events:
        now += timedelta(minutes=minutes)
        message = _message(index, attempt, steps, categories)
        decision = decide(message, state, rules, now)
        already = (message.request_id, attempt) in seen_attempts or message.request_id in final
        # Oracle: a redelivery is recognised exactly, and nothing new is ever dropped silently.
        assert (decision.outcome is Outcome.ALREADY_DECIDED) == already
        if not already:
            duplicate = message.step_key is not None and message.step_key in live
            assert (decision.outcome is Outcome.DUPLICATE) == duplicate
            seen_attempts.add((message.request_id, attempt))
            if decision.is_final:
                final.add(message.request_id)
            if decision.outcome is Outcome.SEND and message.step_key is not None:
                live.add(message.step_key)
        state = apply_decision(state, message, decision, now)
