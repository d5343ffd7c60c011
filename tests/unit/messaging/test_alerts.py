"""The alert lifecycle and scheduling, with a fake clock (plain datetimes passed in)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from line311.ivr.alerts import PushedAlert
from line311.messaging.alerts import (
    TRANSITIONS,
    Action,
    Alert,
    AlertKind,
    AlertState,
    ApprovalPolicy,
    AudioRef,
    AudioSource,
    Targeting,
    active_alerts,
    active_ccr_messages,
    apply,
    call_alerts,
    due_actions,
    edit,
    is_live,
    missing_for_submit,
    next_change,
)
from line311.messaging.errors import AlertError, FourEyesViolation, IllegalTransition

T0 = datetime(2025, 7, 4, 9, 0, tzinfo=UTC)
UPLOAD = AudioRef(AudioSource.UPLOAD, "upload.wav")


def make_alert(alert_id: str = "blackout", **kw: object) -> Alert:
    fields: dict[str, object] = {
        "id": alert_id,
        "title": "Blackout in Queens",
        "kind": AlertKind.IVR_ANNOUNCEMENT,
        "author": "alice",
        "created_at": T0 - timedelta(hours=1),
        "starts_at": T0,
        "ends_at": T0 + timedelta(hours=2),
        "audio": {"en": UPLOAD},
    }
    fields.update(kw)
    return Alert(**fields)  # type: ignore[arg-type]


def approved(alert: Alert, now: datetime = T0 - timedelta(minutes=30)) -> Alert:
    alert, _ = apply(alert, Action.SUBMIT, actor=alert.author, now=now)
    alert, _ = apply(alert, Action.APPROVE, actor="bob", now=now)
    return alert


def test_given_a_draft_when_submitted_and_approved_by_another_supervisor_then_it_is_scheduled():
    draft = make_alert()
    pending, submit_entry = apply(draft, Action.SUBMIT, actor="alice", now=T0 - timedelta(hours=1))
    ok, approve_entry = apply(pending, Action.APPROVE, actor="bob", now=T0 - timedelta(minutes=5))
    assert ok.state is AlertState.APPROVED
    assert ok.approved_by == "bob"
    assert (submit_entry.actor, submit_entry.action, submit_entry.to_state) == (
        "alice",
        Action.SUBMIT,
        AlertState.PENDING_APPROVAL,
    )
    assert approve_entry.from_state is AlertState.PENDING_APPROVAL
    assert approve_entry.at == T0 - timedelta(minutes=5)


def test_given_four_eyes_when_the_author_approves_then_it_is_refused():
    pending, _ = apply(make_alert(), Action.SUBMIT, actor="alice", now=T0)
    with pytest.raises(FourEyesViolation):
        apply(pending, Action.APPROVE, actor="alice", now=T0)


def test_given_four_eyes_when_a_supervisor_who_changed_the_alert_approves_it_then_it_is_refused():
    pending, _ = apply(make_alert(), Action.SUBMIT, actor="alice", now=T0)
    with pytest.raises(FourEyesViolation, match="carol changed it"):
        apply(pending, Action.APPROVE, actor="carol", now=T0, editors={"alice", "carol"})
    ok, _ = apply(pending, Action.APPROVE, actor="bob", now=T0, editors={"alice", "carol"})
    assert ok.approved_by == "bob"


def test_given_four_eyes_off_when_the_author_approves_then_it_is_approved():
    pending, _ = apply(make_alert(), Action.SUBMIT, actor="alice", now=T0)
    ok, _ = apply(
        pending, Action.APPROVE, actor="alice", now=T0, policy=ApprovalPolicy(four_eyes=False)
    )
    assert ok.state is AlertState.APPROVED


def test_given_an_ivr_alert_without_audio_when_submitted_then_it_names_what_is_missing():
    draft = make_alert(audio={}, kind=AlertKind.BOTH)
    assert missing_for_submit(draft) == ["audio in en", "the CCR message text"]
    with pytest.raises(AlertError, match="CCR message text"):
        apply(draft, Action.SUBMIT, actor="alice", now=T0)


def test_given_a_window_already_over_when_approving_then_it_is_refused():
    pending, _ = apply(make_alert(), Action.SUBMIT, actor="alice", now=T0)
    with pytest.raises(AlertError, match="window ended"):
        apply(pending, Action.APPROVE, actor="bob", now=T0 + timedelta(hours=2))


def test_given_an_expired_alert_when_withdrawn_then_the_transition_is_illegal():
    alert = approved(make_alert())
    alert, _ = apply(alert, Action.ACTIVATE, actor="system", now=T0)
    alert, _ = apply(alert, Action.EXPIRE, actor="system", now=T0 + timedelta(hours=2))
    with pytest.raises(IllegalTransition, match="expired"):
        apply(alert, Action.WITHDRAW, actor="bob", now=T0 + timedelta(hours=3))


def test_given_an_approved_alert_when_activated_before_its_start_then_it_is_not_due():
    alert = approved(make_alert())
    with pytest.raises(IllegalTransition, match="not due"):
        apply(alert, Action.ACTIVATE, actor="system", now=T0 - timedelta(seconds=1))


def test_given_a_pending_alert_when_rejected_then_it_is_a_draft_again_and_editable():
    pending, _ = apply(make_alert(), Action.SUBMIT, actor="alice", now=T0)
    draft, entry = apply(pending, Action.REJECT, actor="bob", now=T0, note="say which streets")
    assert draft.state is AlertState.DRAFT
    assert entry.note == "say which streets"
    edited, edit_entry = edit(draft, actor="alice", now=T0, title="Blackout: Astoria")
    assert edited.title == "Blackout: Astoria"
    assert edit_entry.action is Action.EDIT


def test_given_an_approved_alert_when_edited_then_it_is_refused():
    with pytest.raises(IllegalTransition):
        edit(approved(make_alert()), actor="alice", now=T0, title="x")


def test_given_an_alert_when_its_window_is_inverted_then_it_is_refused():
    with pytest.raises(AlertError, match="end must be after"):
        make_alert(ends_at=T0)


def test_given_an_alert_when_a_naive_datetime_is_given_then_it_is_refused():
    with pytest.raises(AlertError, match="naive"):
        make_alert(starts_at=datetime(2025, 7, 4, 9, 0))


def test_given_a_bad_id_or_language_when_creating_then_it_is_refused():
    with pytest.raises(AlertError, match="bad alert id"):
        make_alert("../etc")
    with pytest.raises(AlertError, match="unknown language"):
        make_alert(texts={"fr": "Bonjour"})


# ---------------------------------------------------------------------- scheduling
def test_given_an_alert_when_the_clock_reaches_its_end_then_it_expires_at_that_exact_second():
    alert = approved(make_alert())
    end = alert.ends_at
    assert is_live(alert, end - timedelta(microseconds=1))
    assert not is_live(alert, end)
    assert active_alerts([alert], end - timedelta(seconds=1), "en") != []
    assert active_alerts([alert], end, "en") == []


def test_given_an_alert_when_the_clock_reaches_its_start_then_it_is_live_at_that_exact_second():
    alert = approved(make_alert())
    assert active_alerts([alert], T0 - timedelta(microseconds=1), "en") == []
    assert [a.alert_id for a in active_alerts([alert], T0, "en")] == ["blackout"]


def test_given_a_scheduler_late_by_minutes_when_a_call_arrives_then_it_does_not_hear_the_expired_alert():
    alert = approved(make_alert())
    alert, _ = apply(alert, Action.ACTIVATE, actor="system", now=T0)
    assert alert.state is AlertState.ACTIVE  # the scheduler has not expired it yet
    assert active_alerts([alert], alert.ends_at + timedelta(minutes=3), "en") == []


def test_given_approved_alerts_when_time_passes_then_due_actions_activate_and_expire_them():
    alert = approved(make_alert())
    assert due_actions(alert, T0 - timedelta(seconds=1)) == []
    assert due_actions(alert, T0) == [Action.ACTIVATE]
    active, _ = apply(alert, Action.ACTIVATE, actor="system", now=T0)
    assert due_actions(active, alert.ends_at - timedelta(seconds=1)) == []
    assert due_actions(active, alert.ends_at) == [Action.EXPIRE]
    assert due_actions(alert, alert.ends_at) == [Action.EXPIRE]  # never activated


def test_given_two_alerts_when_asking_the_next_change_then_it_is_the_earliest_future_boundary():
    a = approved(make_alert("a"))
    b = approved(make_alert("b", starts_at=T0 + timedelta(minutes=30)))
    assert next_change([a, b], T0 - timedelta(hours=1)) == T0
    assert next_change([a, b], T0) == T0 + timedelta(minutes=30)
    assert next_change([a, b], T0 + timedelta(hours=5)) is None
    assert next_change([make_alert("draft")], T0 - timedelta(hours=1)) is None


def test_given_overlapping_alerts_when_a_call_arrives_then_all_play_in_priority_order():
    storm = approved(make_alert("storm", priority=1, starts_at=T0 + timedelta(minutes=30)))
    blackout = approved(make_alert("blackout", priority=3))
    marathon = approved(make_alert("marathon", priority=3, starts_at=T0 - timedelta(minutes=10)))
    at = T0 + timedelta(minutes=45)
    heard = active_alerts([blackout, storm, marathon], at, "en")
    assert [a.alert_id for a in heard] == ["storm", "marathon", "blackout"]
    assert [a.prompt_id for a in heard] == ["alerts/storm", "alerts/marathon", "alerts/blackout"]
    # before the storm's start only the two others overlap
    assert [a.alert_id for a in active_alerts([blackout, storm, marathon], T0, "en")] == [
        "marathon",
        "blackout",
    ]


def test_given_back_to_back_alerts_when_one_ends_as_the_other_starts_then_they_never_overlap():
    first = approved(make_alert("first", ends_at=T0 + timedelta(hours=1)))
    second = approved(make_alert("second", starts_at=T0 + timedelta(hours=1)))
    boundary = T0 + timedelta(hours=1)
    assert [a.alert_id for a in active_alerts([first, second], boundary, "en")] == ["second"]


def test_given_two_alerts_sharing_a_catalogue_prompt_when_a_call_arrives_then_it_plays_once():
    ref = AudioRef(AudioSource.CATALOGUE, "closures/schools")
    a = approved(make_alert("a", audio={"en": ref}))
    b = approved(make_alert("b", audio={"en": ref}, priority=2))
    heard = active_alerts([a, b], T0, "en")
    assert [(x.alert_id, x.prompt_id) for x in heard] == [("b", "closures/schools")]


def test_given_a_spanish_caller_when_the_alert_has_spanish_audio_then_spanish_is_chosen():
    alert = approved(make_alert(audio={"en": UPLOAD, "es": UPLOAD}))
    assert [a.language for a in active_alerts([alert], T0, "es")] == ["es"]
    assert [a.language for a in active_alerts([alert], T0, "ko")] == ["en"]


def test_given_an_alert_without_english_when_a_korean_caller_arrives_then_it_is_skipped():
    alert = approved(make_alert(audio={"es": UPLOAD}, targeting=Targeting(frozenset({"es"}))))
    assert active_alerts([alert], T0, "ko") == []
    assert [a.language for a in active_alerts([alert], T0, "es")] == ["es"]


def test_given_language_targeting_when_other_callers_arrive_then_they_do_not_hear_it():
    alert = approved(make_alert(targeting=Targeting(frozenset({"ru", "ko"}))))
    assert active_alerts([alert], T0, "en") == []
    assert [a.language for a in active_alerts([alert], T0, "ru")] == ["en"]


def test_given_node_targeting_when_asking_for_the_greeting_then_only_untargeted_alerts_play():
    parking = approved(make_alert("asp", targeting=Targeting(node="parking")))
    general = approved(make_alert("general"))
    assert [a.alert_id for a in active_alerts([parking, general], T0, "en")] == ["general"]
    assert [a.alert_id for a in active_alerts([parking, general], T0, "en", "parking")] == ["asp"]


def test_given_withdrawn_or_unapproved_alerts_when_a_call_arrives_then_they_are_not_heard():
    live = approved(make_alert("live"))
    withdrawn, _ = apply(approved(make_alert("gone")), Action.WITHDRAW, actor="bob", now=T0)
    pending, _ = apply(make_alert("pending"), Action.SUBMIT, actor="alice", now=T0)
    ccr = approved(make_alert("ccr", kind=AlertKind.CCR_MESSAGE, audio={}, ccr_text="x"))
    heard = active_alerts([live, withdrawn, pending, ccr], T0 + timedelta(minutes=1), "en")
    assert [a.alert_id for a in heard] == ["live"]


def test_given_ccr_messages_when_asking_the_active_ones_then_only_live_ccr_kinds_come_back():
    both = approved(make_alert("both", kind=AlertKind.BOTH, ccr_text="Blackout", priority=2))
    ccr = approved(make_alert("ccr", kind=AlertKind.CCR_MESSAGE, audio={}, ccr_text="Note"))
    ivr = approved(make_alert("ivr"))
    assert [a.id for a in active_ccr_messages([ccr, ivr, both], T0)] == ["both", "ccr"]
    assert active_ccr_messages([ccr, both], both.ends_at) == []


def test_given_the_transition_table_then_terminal_states_have_no_way_out():
    for (state, _action), _target in TRANSITIONS.items():
        assert state not in (AlertState.EXPIRED, AlertState.WITHDRAWN)


def test_given_an_empty_actor_when_acting_then_it_is_refused():
    with pytest.raises(AlertError, match="actor"):
        apply(make_alert(), Action.SUBMIT, actor=" ", now=T0)


def test_given_an_edit_of_a_protected_field_then_it_is_refused():
    with pytest.raises(AlertError, match="cannot edit"):
        edit(make_alert(), actor="alice", now=T0, state=AlertState.ACTIVE)
    assert replace(make_alert(), priority=1).priority == 1


def test_given_the_pure_alert_modules_when_imported_then_no_io_library_is_loaded():
    forbidden = ("asyncio", "httpx", "sqlalchemy", "fastapi", "starlette", "subprocess")
    code = (
        "import json, sys\n"
        "import line311.messaging.alerts, line311.messaging.phone\n"
        f"print(json.dumps(sorted(m for m in {forbidden!r} if m in sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []


# ---------------------------------------------------------------------- what a call carries
def test_given_live_alerts_when_a_call_starts_then_it_carries_their_targeting_audio_and_end():
    spanish = approved(
        make_alert(
            "cortes", priority=2, audio={"es": UPLOAD}, targeting=Targeting(frozenset({"es"}))
        )
    )
    node = approved(make_alert("schools", priority=3, targeting=Targeting(node="closures")))
    catalogue = approved(
        make_alert(
            "asp", priority=1, audio={"en": AudioRef(AudioSource.CATALOGUE, "asp_suspended")}
        )
    )
    ccr = approved(make_alert("ccr", kind=AlertKind.CCR_MESSAGE, audio={}, ccr_text="x"))

    carried = call_alerts([node, spanish, ccr, catalogue], T0)

    assert [a.alert_id for a in carried] == ["asp", "cortes", "schools"]  # priority order
    assert carried[1] == PushedAlert(
        alert_id="cortes",
        prompt_id="alerts/cortes",
        languages=frozenset({"es"}),
        node=None,
        audio=(("es", "alerts/cortes", "es"),),
        until=(T0 + timedelta(hours=2)).timestamp(),
    )
    assert carried[2].node == "closures"
    assert carried[2].prompt_for("ko") == ("alerts/schools", "en")  # English for the rest
    assert carried[0].prompt_for("es") == ("asp_suspended", "en")


def test_given_alerts_outside_their_window_when_a_call_starts_then_it_does_not_carry_them():
    alert = approved(make_alert())
    assert call_alerts([alert], T0 - timedelta(seconds=1)) == []
    assert call_alerts([alert], T0 + timedelta(hours=2)) == []
