"""Hypothesis: any sequence of actions, actors and times keeps the alert lifecycle legal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from line311.messaging.alerts import (
    TERMINAL_STATES,
    TRANSITIONS,
    Action,
    Alert,
    AlertKind,
    AlertState,
    ApprovalPolicy,
    AudioRef,
    AudioSource,
    active_alerts,
    apply,
)
from line311.messaging.errors import AlertError

T0 = datetime(2025, 7, 4, 9, 0, tzinfo=UTC)

steps = st.lists(
    st.tuples(
        st.sampled_from(list(Action)),
        st.sampled_from(["alice", "bob", "system"]),
        st.integers(min_value=0, max_value=300),  # seconds since the previous step
    ),
    max_size=25,
)


def _alert() -> Alert:
    return Alert(
        id="storm",
        title="Storm",
        kind=AlertKind.IVR_ANNOUNCEMENT,
        author="alice",
        created_at=T0,
        starts_at=T0 + timedelta(seconds=200),
        ends_at=T0 + timedelta(seconds=900),
        audio={"en": AudioRef(AudioSource.TTS, "k")},
    )


@settings(max_examples=200, deadline=None)
@given(steps=steps, four_eyes=st.booleans())
def test_given_any_sequence_of_actions_then_only_table_transitions_are_accepted(steps, four_eyes):
    alert = _alert()
    now = T0
    policy = ApprovalPolicy(four_eyes=four_eyes)
    audit = []
    for action, actor, delta in steps:
        now += timedelta(seconds=delta)
        before = alert
        try:
            alert, entry = apply(alert, action, actor=actor, now=now, policy=policy)
        except AlertError:
            assert alert is before  # a refused action changes nothing
            continue
        assert TRANSITIONS[(before.state, action)] is alert.state
        assert before.state not in TERMINAL_STATES
        assert (entry.from_state, entry.to_state, entry.actor, entry.at) == (
            before.state,
            alert.state,
            actor,
            now,
        )
        if action is Action.APPROVE and four_eyes:
            assert actor != alert.author
        audit.append(entry)
    # the audit log is a chain: each entry starts where the previous one ended
    state = AlertState.DRAFT
    for entry in audit:
        assert entry.from_state is state
        state = entry.to_state
    assert state is alert.state


@settings(max_examples=100, deadline=None)
@given(
    state=st.sampled_from(sorted(TERMINAL_STATES, key=lambda s: s.value)),
    action=st.sampled_from(list(Action)),
)
def test_given_a_terminal_alert_when_any_action_is_taken_then_it_is_refused(state, action):
    alert = _alert()
    terminal = Alert(**{**{f: getattr(alert, f) for f in alert.__slots__}, "state": state})  # type: ignore[arg-type]
    try:
        apply(terminal, action, actor="bob", now=T0 + timedelta(seconds=500))
    except AlertError:
        return
    raise AssertionError(f"{action} accepted on a {state.value} alert")


@settings(max_examples=100, deadline=None)
@given(offset=st.integers(min_value=-1000, max_value=2000))
def test_given_any_instant_then_a_call_hears_the_alert_exactly_inside_its_window(offset):
    alert = _alert()
    alert, _ = apply(alert, Action.SUBMIT, actor="alice", now=T0)
    alert, _ = apply(alert, Action.APPROVE, actor="bob", now=T0)
    now = T0 + timedelta(seconds=offset)
    heard = bool(active_alerts([alert], now, "en"))
    assert heard == (alert.starts_at <= now < alert.ends_at)
