"""What a pushed alert is: its kind, state, audio, targeting, audit entries (pure).

The lifecycle (`TRANSITIONS`, `apply`) and delivery to calls (`call_alerts`) are in
`line311.messaging.alerts`, which re-exports these names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from line311.ivr.catalogue import LANGUAGES
from line311.messaging.errors import AlertError

__all__ = [
    "ALERT_PROMPT_PREFIX",
    "DEFAULT_LANGUAGE",
    "SYSTEM_ACTOR",
    "TERMINAL_STATES",
    "Action",
    "Alert",
    "AlertKind",
    "AlertState",
    "ApprovalPolicy",
    "AudioRef",
    "AudioSource",
    "AuditEntry",
    "Targeting",
    "alert_prompt_id",
    "validate_alert_id",
]

DEFAULT_LANGUAGE = "en"
SYSTEM_ACTOR = "system"
ALERT_PROMPT_PREFIX = "alerts/"
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}\Z")


class AlertKind(Enum):
    """Where an alert goes: to callers (IVR), to CCRs, or to both."""

    IVR_ANNOUNCEMENT = "ivr_announcement"
    CCR_MESSAGE = "ccr_message"
    BOTH = "both"

    @property
    def for_callers(self) -> bool:
        return self is not AlertKind.CCR_MESSAGE

    @property
    def for_ccrs(self) -> bool:
        return self is not AlertKind.IVR_ANNOUNCEMENT


class AlertState(Enum):
    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"  # scheduled: waiting for its start
    ACTIVE = "active"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"


class Action(Enum):
    EDIT = "edit"  # content changed (text, audio, window, targeting)
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"  # back to draft, with a note
    ACTIVATE = "activate"  # scheduler: start reached
    EXPIRE = "expire"  # scheduler: end reached
    WITHDRAW = "withdraw"


TERMINAL_STATES = frozenset({AlertState.EXPIRED, AlertState.WITHDRAWN})
_LIVE_STATES = frozenset({AlertState.APPROVED, AlertState.ACTIVE})
_SCHEDULER_ACTIONS = frozenset({Action.ACTIVATE, Action.EXPIRE})


class AudioSource(Enum):
    """Where an alert's audio in one language comes from."""

    CATALOGUE = "catalogue"  # an existing prompt of the catalogue, by id
    UPLOAD = "upload"  # a file uploaded through the API, converted to 8 kHz
    TTS = "tts"  # the typed text, synthesised
    PHONE = "phone"  # recorded by a supervisor on the phone line (ARI recording)


@dataclass(frozen=True, slots=True)
class AudioRef:
    """The audio of an alert in one language.

    For `AudioSource.CATALOGUE`, ``ref`` is the prompt id played. Otherwise the audio is a
    file of the alert's own (``ref`` names where it came from: upload file name, TTS cache
    key, ARI recording name) and is played as the library prompt ``alerts/<alert id>``.
    """

    source: AudioSource
    ref: str = ""
    duration: float | None = None


@dataclass(frozen=True, slots=True)
class Targeting:
    """Who hears an announcement. Empty ``languages``: callers of every language (after
    the greeting); else callers of those languages, right after their language choice.
    ``node`` set: only callers entering that menu node, on entering it."""

    languages: frozenset[str] = frozenset()
    node: str | None = None

    def matches(self, language: str, node: str | None) -> bool:
        if self.node != node:
            return False
        return not self.languages or language in self.languages

    def target_languages(self) -> tuple[str, ...]:
        """The languages addressed, in menu order."""
        return tuple(lang for lang in LANGUAGES if not self.languages or lang in self.languages)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One step in an alert's life: who did what, when, and the state change it made."""

    alert_id: str
    at: datetime
    actor: str
    action: Action
    from_state: AlertState
    to_state: AlertState
    note: str = ""


@dataclass(frozen=True, slots=True)
class ApprovalPolicy:
    """``four_eyes``: an alert must be approved by a supervisor other than its author and
    other than anyone who changed its content (see `line311.messaging.alerts.apply`)."""

    four_eyes: bool = True


@dataclass(frozen=True, slots=True)
class Alert:
    """A pushed alert. Times are aware datetimes; the window is ``[starts_at, ends_at)``.

    ``priority``: 1 is the most urgent (played first). ``texts``: per-language text (for TTS
    and transcripts); ``audio``: per-language audio; ``ccr_text``: what CCRs see.
    """

    id: str
    title: str
    kind: AlertKind
    author: str
    created_at: datetime
    starts_at: datetime
    ends_at: datetime
    priority: int = 5
    targeting: Targeting = field(default_factory=Targeting)
    texts: Mapping[str, str] = field(default_factory=dict)
    audio: Mapping[str, AudioRef] = field(default_factory=dict)
    ccr_text: str = ""
    state: AlertState = AlertState.DRAFT
    approved_by: str | None = None
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        validate_alert_id(self.id)
        for when in (self.created_at, self.starts_at, self.ends_at):
            if when.tzinfo is None or when.utcoffset() is None:
                raise AlertError(f"alert {self.id}: naive datetime {when.isoformat()} refused")
        if self.ends_at <= self.starts_at:
            raise AlertError(f"alert {self.id}: the end must be after the start")
        if not 1 <= self.priority <= 9:
            raise AlertError(f"alert {self.id}: priority must be 1..9, got {self.priority}")
        if not self.title.strip():
            raise AlertError(f"alert {self.id}: a title is required")
        unknown = (set(self.texts) | set(self.audio) | set(self.targeting.languages)) - set(
            LANGUAGES
        )
        if unknown:
            raise AlertError(f"alert {self.id}: unknown language(s) {sorted(unknown)}")

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def prompt_id(self) -> str:
        """The library prompt of the alert's own audio."""
        return alert_prompt_id(self.id)

    def audio_for(self, language: str) -> tuple[str, AudioRef] | None:
        """(language of the audio, its reference) for a caller of ``language``: the
        caller's language when the alert has it, else English, else None."""
        for lang in (language, DEFAULT_LANGUAGE):
            ref = self.audio.get(lang)
            if ref is not None:
                return lang, ref
        return None

    def played_prompt(self, ref: AudioRef) -> str:
        return ref.ref if ref.source is AudioSource.CATALOGUE else self.prompt_id


def validate_alert_id(alert_id: str) -> str:
    """Alert ids are lowercase ``[a-z0-9_-]`` (they become part of a prompt id and a path)."""
    if not _ID_RE.match(alert_id):
        raise AlertError(f"bad alert id {alert_id!r}: use 1-48 of a-z 0-9 _ -, starting a-z0-9")
    return alert_id


def alert_prompt_id(alert_id: str) -> str:
    return ALERT_PROMPT_PREFIX + validate_alert_id(alert_id)
