"""Pushed alerts: the lifecycle of an announcement and what a new call must hear (pure).

Theory of operation
-------------------
An `Alert` is what a supervisor pushes when something happens in the city: an IVR
announcement callers hear (every caller right after the greeting, or only callers of some
languages right after their language choice, or callers entering a menu node), a message
shown to every CCR, or both. Its lifecycle is one table, `TRANSITIONS`::

                 submit              approve                 activate (start reached)
      draft ───────────────▶ pending ─────────▶ approved ──────────────────────▶ active
        ▲                   approval  │        (scheduled)                          │
        └───────── reject ────────────┘             │ expire (end reached first)    │ expire
                                                    ▼                               ▼
      withdraw from any live state ──▶ withdrawn                                 expired

``withdrawn`` and ``expired`` are terminal. `apply` is the only way to change a state: it
checks the table (an unknown pair raises `IllegalTransition`), the four-eyes rule (with
`ApprovalPolicy.four_eyes` the approver must be neither the author nor anyone who changed
its content, ``editors``) and the time window, and it returns the new alert with one
`AuditEntry` (who, what, when). ``activate`` and ``expire`` are the scheduler's:
`due_actions` says which are due at ``now``.

Scheduling. An alert's window is ``[starts_at, ends_at)``: it is live from ``starts_at``
inclusive to ``ends_at`` **exclusive** — at the exact second ``ends_at`` a new call no longer
hears it, and an alert ending at 10:00 and another starting at 10:00 never overlap.
`active_alerts` decides from the window itself, not from the stored state, so a late
scheduler tick never lets a new caller hear an expired alert. Overlapping alerts are all
played, in priority order (1 = most urgent first; ties: earlier start, then id), each prompt
at most once.

Delivery. `call_alerts` gives a new call the live announcements with their targeting; the
call decides when each is due (`line311.ivr.alerts`). `active_alerts` answers "what does a
caller of this language hear at this node now" in one go.

Languages. An announcement is played in the caller's language when it has audio in that
language, else in English. The file a call plays is the library prompt ``alerts/<id>`` of
the caller's language (see `line311.messaging.recording.publish_alert_files`, which puts the
English audio in the directories of the targeted languages that have none of their own).

Time is passed in (aware datetimes); nothing here reads a clock or does I/O. The alert
itself (kinds, states, audio, targeting) is defined in `line311.messaging.alert_model`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType

from line311.ivr.alerts import PushedAlert
from line311.messaging.alert_model import (
    _LIVE_STATES,
    _SCHEDULER_ACTIONS,
    ALERT_PROMPT_PREFIX,
    DEFAULT_LANGUAGE,
    SYSTEM_ACTOR,
    TERMINAL_STATES,
    Action,
    Alert,
    AlertKind,
    AlertState,
    ApprovalPolicy,
    AudioRef,
    AudioSource,
    AuditEntry,
    Targeting,
    alert_prompt_id,
    validate_alert_id,
)
from line311.messaging.errors import AlertError, FourEyesViolation, IllegalTransition

__all__ = [
    "ALERT_PROMPT_PREFIX",
    "DEFAULT_LANGUAGE",
    "SYSTEM_ACTOR",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "Action",
    "Alert",
    "AlertKind",
    "AlertState",
    "Announcement",
    "ApprovalPolicy",
    "AudioRef",
    "AudioSource",
    "AuditEntry",
    "Targeting",
    "active_alerts",
    "active_ccr_messages",
    "alert_prompt_id",
    "apply",
    "call_alerts",
    "due_actions",
    "edit",
    "is_live",
    "missing_for_submit",
    "next_change",
    "validate_alert_id",
]

_DEFAULT_APPROVAL = ApprovalPolicy()

_S = AlertState
_A = Action

TRANSITIONS: Mapping[tuple[AlertState, Action], AlertState] = MappingProxyType(
    {
        (_S.DRAFT, _A.EDIT): _S.DRAFT,
        (_S.DRAFT, _A.SUBMIT): _S.PENDING_APPROVAL,
        (_S.DRAFT, _A.WITHDRAW): _S.WITHDRAWN,
        (_S.PENDING_APPROVAL, _A.APPROVE): _S.APPROVED,
        (_S.PENDING_APPROVAL, _A.REJECT): _S.DRAFT,
        (_S.PENDING_APPROVAL, _A.WITHDRAW): _S.WITHDRAWN,
        (_S.APPROVED, _A.ACTIVATE): _S.ACTIVE,
        (_S.APPROVED, _A.EXPIRE): _S.EXPIRED,
        (_S.APPROVED, _A.WITHDRAW): _S.WITHDRAWN,
        (_S.ACTIVE, _A.EXPIRE): _S.EXPIRED,
        (_S.ACTIVE, _A.WITHDRAW): _S.WITHDRAWN,
    }
)
"""The whole lifecycle: (state, action) -> next state. Any pair not here is refused."""


# ---------------------------------------------------------------------- lifecycle
def missing_for_submit(alert: Alert) -> list[str]:
    """What an alert lacks before it can be submitted (empty: ready)."""
    missing = []
    if alert.kind.for_callers:
        for lang in alert.targeting.target_languages():
            if alert.audio_for(lang) is None:
                alt = f" or in {DEFAULT_LANGUAGE}" if lang != DEFAULT_LANGUAGE else ""
                missing.append(f"audio in {lang}{alt}")
                break
    if alert.kind.for_ccrs and not alert.ccr_text.strip():
        missing.append("the CCR message text")
    return missing


def apply(
    alert: Alert,
    action: Action,
    *,
    actor: str,
    now: datetime,
    policy: ApprovalPolicy = _DEFAULT_APPROVAL,
    note: str = "",
    editors: Collection[str] = (),
) -> tuple[Alert, AuditEntry]:
    """Take ``action`` on ``alert`` at ``now``; return the new alert and its audit entry.

    ``editors``: everyone who changed the alert's content (the actors of its ``edit`` audit
    entries: texts, audio, window, targeting). Under four-eyes none of them may approve it,
    any more than its author: a supervisor who re-recorded a colleague's draft is approving
    their own recording.

    Raises `IllegalTransition` for a pair not in `TRANSITIONS` (or a scheduler action before
    its time), `FourEyesViolation` when the author or an editor approves the alert under
    four-eyes, `AlertError` when the alert is not ready (submit) or its window is already
    over.
    """
    if not actor.strip():
        raise AlertError("an actor is required")
    target = TRANSITIONS.get((alert.state, action))
    if target is None:
        raise IllegalTransition(
            f"alert {alert.id}: cannot {action.value} an alert that is {alert.state.value}"
        )
    if action is Action.SUBMIT:
        missing = missing_for_submit(alert)
        if missing:
            raise AlertError(f"alert {alert.id} cannot be submitted: missing {', '.join(missing)}")
    if action in (Action.SUBMIT, Action.APPROVE) and now >= alert.ends_at:
        raise AlertError(f"alert {alert.id}: its window ended at {alert.ends_at.isoformat()}")
    if action is Action.APPROVE and policy.four_eyes and actor == alert.author:
        raise FourEyesViolation(
            f"alert {alert.id}: four-eyes approval is on; {actor} wrote it, so another "
            "supervisor must approve it"
        )
    if action is Action.APPROVE and policy.four_eyes and actor in editors:
        raise FourEyesViolation(
            f"alert {alert.id}: four-eyes approval is on; {actor} changed it, so a "
            "supervisor who did not must approve it"
        )
    if action in _SCHEDULER_ACTIONS and action not in due_actions(alert, now):
        raise IllegalTransition(f"alert {alert.id}: {action.value} is not due at {now.isoformat()}")
    changes: dict[str, object] = {"state": target, "updated_at": now}
    if action is Action.APPROVE:
        changes["approved_by"] = actor
    elif action is Action.REJECT:
        changes["approved_by"] = None
    new = replace(alert, **changes)  # type: ignore[arg-type]
    entry = AuditEntry(alert.id, now, actor, action, alert.state, target, note)
    return new, entry


def edit(
    alert: Alert, *, actor: str, now: datetime, note: str = "", **changes: object
) -> tuple[Alert, AuditEntry]:
    """Change the content of a draft (title, texts, audio, window, targeting ...)."""
    forbidden = {"id", "state", "author", "created_at", "approved_by", "updated_at"} & set(changes)
    if forbidden:
        raise AlertError(f"alert {alert.id}: cannot edit {sorted(forbidden)}")
    moved, entry = apply(alert, Action.EDIT, actor=actor, now=now, note=note)
    return replace(moved, **changes), entry  # type: ignore[arg-type]


def due_actions(alert: Alert, now: datetime) -> list[Action]:
    """The scheduler's actions due for ``alert`` at ``now`` (in order; at most one)."""
    if alert.state is AlertState.APPROVED:
        if now >= alert.ends_at:
            return [Action.EXPIRE]
        if now >= alert.starts_at:
            return [Action.ACTIVATE]
    elif alert.state is AlertState.ACTIVE and now >= alert.ends_at:
        return [Action.EXPIRE]
    return []


def next_change(alerts: Iterable[Alert], now: datetime) -> datetime | None:
    """The earliest future instant at which some approved or active alert starts or ends."""
    times: list[datetime] = []
    for alert in alerts:
        if alert.state in _LIVE_STATES:
            times.extend(t for t in (alert.starts_at, alert.ends_at) if t > now)
    return min(times, default=None)


# ---------------------------------------------------------------------- delivery
def is_live(alert: Alert, now: datetime) -> bool:
    """Approved (or active) and inside its window ``[starts_at, ends_at)`` at ``now``."""
    return alert.state in _LIVE_STATES and alert.starts_at <= now < alert.ends_at


@dataclass(frozen=True, slots=True)
class Announcement:
    """One announcement a call must hear: the prompt id to play and its audio's language."""

    alert_id: str
    prompt_id: str
    language: str
    priority: int


def _order(alert: Alert) -> tuple[int, datetime, str]:
    return (alert.priority, alert.starts_at, alert.id)


def active_alerts(
    alerts: Iterable[Alert], now: datetime, language: str, node: str | None = None
) -> list[Announcement]:
    """The announcements a new call of ``language`` must hear at ``node`` (None: right
    after the greeting), most urgent first, each prompt once. Alerts without playable audio
    for the caller (neither their language nor English) are left out."""
    out: list[Announcement] = []
    seen: set[str] = set()
    for alert in sorted(alerts, key=_order):
        if not alert.kind.for_callers or not is_live(alert, now):
            continue
        if not alert.targeting.matches(language, node):
            continue
        chosen = alert.audio_for(language)
        if chosen is None:
            continue
        audio_lang, ref = chosen
        prompt = alert.played_prompt(ref)
        if prompt in seen:
            continue
        seen.add(prompt)
        out.append(Announcement(alert.id, prompt, audio_lang, alert.priority))
    return out


def call_alerts(alerts: Iterable[Alert], now: datetime) -> list[PushedAlert]:
    """The live caller alerts at ``now`` as a call carries them (`PushedAlert`), most urgent
    first: targeting, the prompt and audio language for each caller language (as in
    `active_alerts`), and the end of the window (``until``, POSIX seconds). The call decides
    when to play each one (after the greeting, the language choice or at its node)."""
    out: list[PushedAlert] = []
    for alert in sorted(alerts, key=_order):
        if not alert.kind.for_callers or not is_live(alert, now):
            continue
        audio = []
        for language in alert.targeting.target_languages():
            chosen = alert.audio_for(language)
            if chosen is not None:
                audio.append((language, alert.played_prompt(chosen[1]), chosen[0]))
        if not audio:
            continue
        out.append(
            PushedAlert(
                alert_id=alert.id,
                prompt_id=alert.prompt_id,
                languages=frozenset(alert.targeting.languages),
                node=alert.targeting.node,
                audio=tuple(audio),
                until=alert.ends_at.timestamp(),
            )
        )
    return out


def active_ccr_messages(alerts: Iterable[Alert], now: datetime) -> list[Alert]:
    """The CCR messages live at ``now``, most urgent first."""
    return [a for a in sorted(alerts, key=_order) if a.kind.for_ccrs and is_live(a, now)]
