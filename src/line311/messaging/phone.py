"""The supervisor phone line: record an announcement by phone (pure state machine).

Theory of operation
-------------------
A CCR phone dials the feature code (``*80``); the dialplan hands the call to
``Stasis(line311,agent-feature,*80)`` and the edge (`line311.messaging.phone_edge`) runs one
`SupervisorSession` for it. Like the IVR's `CallSession`, the session takes events and
``now`` and returns commands; it reads no clock and does no I/O::

    ENTER_ID ─#─▶ ENTER_PIN ─#─▶ CHECKING_PIN ──ok──▶ RECORDING ──done──▶ CHECKING_AUDIO
       ▲                              │ wrong (n < max)                        │ too short/
       └──────────────────────────────┘ locked ──▶ ENDING (hang up)           │ silent/long
                                                                               ▼    (spoken
    REVIEW (hear it back; 1 keep, 2 record again) ◀──────────── ok ───────── reason, then
      │1                                                                    record again)
      ▼
    LANGUAGE (1-7) ─▶ AUDIENCE (1 all callers, 2 that language) ─▶ HOURS (1-72 #)
      ─▶ CONFIRM (1 submit, 2 cancel) ─▶ SUBMITTING ──Submitted──▶ ENDING (goodbye)

Every prompt is a catalogue prompt (``sounds/catalogue/messaging.yaml``), played in English:
the line is for staff. Digits typed while a prompt plays stop it (barge-in). A menu that
gets no answer is repeated; after `MAX_TIMEOUTS` silences the call ends. PINs are compared by
the edge against a salted PBKDF2 hash (`hash_pin`, `verify_pin`); consecutive failures are
counted per line and persist across calls (`after_failure`), so hanging up doesn't reset the
count; `max_failures` wrong PINs lock the line for ``lockout_seconds``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from line311.ivr.catalogue import LANGUAGES

__all__ = [
    "MAX_TIMEOUTS",
    "AudioChecked",
    "CheckAudio",
    "CheckPin",
    "DigitPressed",
    "Hangup",
    "HungUp",
    "LineLock",
    "PhoneCommand",
    "PhoneEvent",
    "PinChecked",
    "Play",
    "PlayRecording",
    "PlaybackDone",
    "RecordingDone",
    "StartRecording",
    "StopPlayback",
    "Submission",
    "Submit",
    "Submitted",
    "SupervisorSession",
    "SupervisorState",
    "after_failure",
    "after_success",
    "hash_pin",
    "is_locked",
    "verify_pin",
]

MAX_TIMEOUTS = 3
DIGIT_TIMEOUT = 10.0
MAX_ID_DIGITS = 8
MAX_PIN_DIGITS = 12
MAX_HOURS = 72
_PBKDF2_ROUNDS = 200_000


# ---------------------------------------------------------------------- PINs and lockout
def hash_pin(pin: str, *, salt: bytes | None = None, rounds: int = _PBKDF2_ROUNDS) -> str:
    """``pbkdf2_sha256$<rounds>$<salt>$<hash>`` of a PIN (never store the PIN itself)."""
    salt = salt if salt is not None else os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", pin.encode(), salt, rounds)
    b64 = base64.urlsafe_b64encode
    return f"pbkdf2_sha256${rounds}${b64(salt).decode()}${b64(digest).decode()}"


def verify_pin(pin: str, stored: str) -> bool:
    """Whether ``pin`` matches a `hash_pin` result (constant-time comparison)."""
    try:
        scheme, rounds, salt, digest = stored.split("$")
        if scheme != "pbkdf2_sha256":
            return False
        expected = base64.urlsafe_b64decode(digest)
        got = hashlib.pbkdf2_hmac(
            "sha256", pin.encode(), base64.urlsafe_b64decode(salt), int(rounds)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


@dataclass(frozen=True, slots=True)
class LineLock:
    """Consecutive failed sign-ins on one line, and until when it is locked."""

    failures: int = 0
    locked_until: datetime | None = None


def is_locked(lock: LineLock, now: datetime) -> bool:
    return lock.locked_until is not None and now < lock.locked_until


def after_failure(lock: LineLock, now: datetime, max_failures: int, lockout: float) -> LineLock:
    """One more failed sign-in; the ``max_failures``-th locks the line for ``lockout`` s
    (and resets the count, so the next failure after the lock starts again from one)."""
    failures = lock.failures + 1
    if failures >= max_failures:
        return LineLock(0, now + timedelta(seconds=lockout))
    return LineLock(failures, None)


def after_success(lock: LineLock) -> LineLock:
    return LineLock()


# ---------------------------------------------------------------------- events
@dataclass(frozen=True, slots=True)
class DigitPressed:
    digit: str


@dataclass(frozen=True, slots=True)
class PlaybackDone:
    playback_id: str


@dataclass(frozen=True, slots=True)
class PinChecked:
    """The edge's verdict: ``ok`` with the supervisor's ``username``; ``locked`` when the
    line is (now) locked."""

    ok: bool
    username: str = ""
    locked: bool = False


@dataclass(frozen=True, slots=True)
class RecordingDone:
    """ARI RecordingFinished (``failed``: RecordingFailed)."""

    name: str
    failed: bool = False


@dataclass(frozen=True, slots=True)
class AudioChecked:
    """``problem``: None when usable, else ``too-short``, ``too-long``, ``silent``, ``corrupt``."""

    name: str
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Submitted:
    """``alert_id`` of the new alert, or None when submitting failed."""

    alert_id: str | None


@dataclass(frozen=True, slots=True)
class HungUp:
    pass


PhoneEvent = (
    DigitPressed | PlaybackDone | PinChecked | RecordingDone | AudioChecked | Submitted | HungUp
)


# ---------------------------------------------------------------------- commands
@dataclass(frozen=True, slots=True)
class Play:
    playback_id: str
    prompt_ids: tuple[str, ...]
    language: str = "en"


@dataclass(frozen=True, slots=True)
class PlayRecording:
    """Play the stored recording ``name`` back (``recording:<name>``), then ``prompt_ids``."""

    playback_id: str
    name: str
    prompt_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StopPlayback:
    playback_id: str


@dataclass(frozen=True, slots=True)
class CheckPin:
    phone_id: str
    pin: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class StartRecording:
    """Record after a beep; ``#`` ends it; at most ``max_seconds``."""

    name: str
    max_seconds: int


@dataclass(frozen=True, slots=True)
class CheckAudio:
    name: str


@dataclass(frozen=True, slots=True)
class Submission:
    """What the supervisor chose."""

    username: str
    recording: str
    language: str
    all_callers: bool
    hours: int


@dataclass(frozen=True, slots=True)
class Submit:
    submission: Submission


@dataclass(frozen=True, slots=True)
class Hangup:
    reason: str = "normal"


PhoneCommand = (
    Play | PlayRecording | StopPlayback | CheckPin | StartRecording | CheckAudio | (Submit | Hangup)
)


class SupervisorState(Enum):
    ENTER_ID = "enter_id"
    ENTER_PIN = "enter_pin"
    CHECKING_PIN = "checking_pin"
    RECORDING = "recording"
    CHECKING_AUDIO = "checking_audio"
    REVIEW = "review"
    LANGUAGE = "language"
    AUDIENCE = "audience"
    HOURS = "hours"
    CONFIRM = "confirm"
    SUBMITTING = "submitting"
    ENDING = "ending"  # the last prompt plays, then hang up
    DONE = "done"


_S = SupervisorState
_MENU_PROMPT = {
    _S.ENTER_ID: "sup_enter_id",
    _S.ENTER_PIN: "sup_enter_pin",
    _S.REVIEW: "sup_review",
    _S.LANGUAGE: "sup_choose_language",
    _S.AUDIENCE: "sup_choose_audience",
    _S.HOURS: "sup_enter_hours",
    _S.CONFIRM: "sup_confirm",
}
_PROBLEM_PROMPT = {
    "too-short": "sup_too_short",
    "too-long": "sup_too_long",
    "silent": "sup_silent",
}
_INPUT_STATES = frozenset(_MENU_PROMPT)
_TERMINATED_BY_POUND = frozenset({_S.ENTER_ID, _S.ENTER_PIN, _S.HOURS})


class SupervisorSession:
    """One call on the supervisor line (see the module docstring).

    ``line`` names the calling endpoint (for logs). ``max_failures`` wrong PINs within the
    call end it even before the persistent lock; ``max_record_seconds`` bounds a recording.
    """

    def __init__(
        self,
        call_id: str,
        now: float,
        *,
        max_failures: int = 3,
        max_record_seconds: int = 180,
    ) -> None:
        self.call_id = call_id
        self.max_failures = max_failures
        self.max_record_seconds = max_record_seconds
        self.state = _S.ENTER_ID
        self.username = ""
        self.outcome: str | None = None
        self.alert_id: str | None = None
        self._commands: list[PhoneCommand] = []
        self._digits = ""
        self._phone_id = ""
        self._failures = 0
        self._timeouts = 0
        self._takes = 0
        self._recording = ""
        self._language = "en"
        self._all_callers = True
        self._hours = 0
        self._seq = 0
        self._playing: str | None = None
        self._deadline: float | None = None
        self._prompt(_S.ENTER_ID, now)

    # ------------------------------------------------------------------ public API
    @property
    def finished(self) -> bool:
        return self.state is _S.DONE

    def commands(self) -> list[PhoneCommand]:
        out, self._commands = self._commands, []
        return out

    def next_deadline(self) -> float | None:
        return self._deadline

    def receive(self, event: PhoneEvent, now: float) -> None:
        if self.state is _S.DONE:
            return
        if isinstance(event, HungUp):
            self._end("hung-up")
            return
        handler = _HANDLERS.get((self.state, type(event)))
        if handler is None:
            if isinstance(event, DigitPressed | PlaybackDone):
                return  # a digit or stale playback where none matters: ignored
            raise ValueError(f"{type(event).__name__} not expected in state {self.state.value}")
        handler(self, event, now)

    def handle_timer(self, now: float) -> None:
        if self._deadline is None or now < self._deadline or self.state is _S.DONE:
            return
        self._deadline = None
        if self.state not in _INPUT_STATES:
            self._fail("timeout", now)
            return
        self._timeouts += 1
        if self._timeouts >= MAX_TIMEOUTS:
            self._say_then_end(("goodbye",), "no-input", now)
            return
        self._prompt(self.state, now, prefix=("no_input",))

    def to_dict(self) -> dict[str, Any]:
        """What happened (for logs): never the PIN."""
        return {
            "call_id": self.call_id,
            "state": self.state.value,
            "username": self.username,
            "outcome": self.outcome,
            "alert_id": self.alert_id,
            "takes": self._takes,
            "failures": self._failures,
        }

    # ------------------------------------------------------------------ helpers
    def _next_id(self) -> str:
        self._seq += 1
        return f"{self.call_id}-sup-{self._seq}"

    def _stop_playing(self) -> None:
        if self._playing is not None:
            self._commands.append(StopPlayback(self._playing))
            self._playing = None

    def _play(self, prompts: tuple[str, ...]) -> None:
        self._stop_playing()
        self._playing = self._next_id()
        self._commands.append(Play(self._playing, prompts))

    def _prompt(self, state: SupervisorState, now: float, prefix: tuple[str, ...] = ()) -> None:
        self.state = state
        self._digits = ""
        self._play((*prefix, _MENU_PROMPT[state]))
        self._deadline = now + DIGIT_TIMEOUT

    def _go(self, state: SupervisorState, now: float, prefix: tuple[str, ...] = ()) -> None:
        self._timeouts = 0
        self._prompt(state, now, prefix)

    def _say_then_end(self, prompts: tuple[str, ...], outcome: str, now: float) -> None:
        self.outcome = outcome
        self.state = _S.ENDING
        self._play(prompts)
        self._deadline = now + 60.0  # the goodbye must not keep the line forever

    def _end(self, outcome: str) -> None:
        if outcome != "hung-up":
            self._stop_playing()
        self.outcome = self.outcome or outcome
        self.state = _S.DONE
        self._deadline = None
        if outcome != "hung-up":
            self._commands.append(Hangup())

    def _fail(self, reason: str, now: float) -> None:
        self._say_then_end(("sup_error",), f"failed:{reason}", now)

    def _record(self, now: float, prefix: tuple[str, ...] = ()) -> None:
        self._takes += 1
        self._recording = f"alert-{self.call_id}-{self._takes}".replace(".", "-")
        self.state = _S.RECORDING
        self._timeouts = 0
        # the instructions are played first; recording starts when they finish
        self._play((*prefix, "sup_record"))
        self._deadline = None

    # ------------------------------------------------------------------ handlers
    def _on_digit(self, event: DigitPressed, now: float) -> None:
        self._stop_playing()
        self._deadline = now + DIGIT_TIMEOUT
        state = self.state
        if state in _TERMINATED_BY_POUND:
            if event.digit != "#":
                if event.digit.isdigit() and len(self._digits) < MAX_PIN_DIGITS:
                    self._digits += event.digit
                return
            entry, self._digits = self._digits, ""
            self._on_entry(state, entry, now)
            return
        self._on_choice(state, event.digit, now)

    def _on_entry(self, state: SupervisorState, entry: str, now: float) -> None:
        if state is _S.ENTER_ID:
            if not entry or len(entry) > MAX_ID_DIGITS:
                self._prompt(_S.ENTER_ID, now, prefix=("invalid_choice",))
                return
            self._phone_id = entry
            self._go(_S.ENTER_PIN, now)
        elif state is _S.ENTER_PIN:
            self.state = _S.CHECKING_PIN
            self._deadline = now + 30.0
            self._commands.append(CheckPin(self._phone_id, entry))
        else:  # HOURS
            if not entry.isdigit() or not 1 <= int(entry) <= MAX_HOURS:
                self._prompt(_S.HOURS, now, prefix=("invalid_choice",))
                return
            self._hours = int(entry)
            self._go(_S.CONFIRM, now)

    def _on_choice(self, state: SupervisorState, digit: str, now: float) -> None:
        if state is _S.REVIEW and digit in "12":
            if digit == "1":
                self._go(_S.LANGUAGE, now)
            else:
                self._record(now)
        elif state is _S.LANGUAGE and digit.isdigit() and 1 <= int(digit) <= len(LANGUAGES):
            self._language = LANGUAGES[int(digit) - 1]
            self._go(_S.AUDIENCE, now)
        elif state is _S.AUDIENCE and digit in "12":
            self._all_callers = digit == "1"
            self._go(_S.HOURS, now)
        elif state is _S.CONFIRM and digit in "12":
            if digit == "2":
                self._say_then_end(("sup_cancelled",), "cancelled", now)
                return
            self.state = _S.SUBMITTING
            self._deadline = now + 60.0
            choice = Submission(
                username=self.username,
                recording=self._recording,
                language=self._language,
                all_callers=self._all_callers,
                hours=self._hours,
            )
            self._commands.append(Submit(choice))
        else:
            self._prompt(state, now, prefix=("invalid_choice",))

    def _on_playback_done(self, event: PlaybackDone, now: float) -> None:
        if event.playback_id != self._playing:
            return
        self._playing = None
        if self.state is _S.ENDING:
            self._end(self.outcome or "done")
        elif self.state is _S.RECORDING and self._deadline is None:
            self._deadline = now + self.max_record_seconds + 15.0
            self._commands.append(StartRecording(self._recording, self.max_record_seconds))

    def _on_pin_checked(self, event: PinChecked, now: float) -> None:
        if event.locked:
            self._say_then_end(("sup_locked",), "locked", now)
            return
        if not event.ok:
            self._failures += 1
            if self._failures >= self.max_failures:
                self._say_then_end(("sup_locked",), "locked", now)
                return
            self._go(_S.ENTER_ID, now, prefix=("sup_wrong_pin",))
            return
        self.username = event.username
        self._record(now)

    def _on_recording_done(self, event: RecordingDone, now: float) -> None:
        if event.name != self._recording:
            return
        if event.failed:
            self._fail("recording", now)
            return
        self.state = _S.CHECKING_AUDIO
        self._deadline = now + 30.0
        self._commands.append(CheckAudio(event.name))

    def _on_audio_checked(self, event: AudioChecked, now: float) -> None:
        if event.name != self._recording:
            return
        if event.problem is not None:
            self._record(now, prefix=(_PROBLEM_PROMPT.get(event.problem, "sup_error"),))
            return
        self.state = _S.REVIEW
        self._timeouts = 0
        self._digits = ""
        self._stop_playing()
        self._playing = self._next_id()
        self._commands.append(PlayRecording(self._playing, self._recording, ("sup_review",)))
        self._deadline = now + self.max_record_seconds + DIGIT_TIMEOUT

    def _on_submitted(self, event: Submitted, now: float) -> None:
        if event.alert_id is None:
            self._fail("submit", now)
            return
        self.alert_id = event.alert_id
        self._say_then_end(("sup_submitted",), "submitted", now)


_HANDLERS: dict[tuple[SupervisorState, type], Any] = {
    **{(s, DigitPressed): SupervisorSession._on_digit for s in _INPUT_STATES},
    **{(s, PlaybackDone): SupervisorSession._on_playback_done for s in SupervisorState},
    (_S.CHECKING_PIN, PinChecked): SupervisorSession._on_pin_checked,
    (_S.RECORDING, RecordingDone): SupervisorSession._on_recording_done,
    (_S.CHECKING_AUDIO, AudioChecked): SupervisorSession._on_audio_checked,
    (_S.SUBMITTING, Submitted): SupervisorSession._on_submitted,
}
"""The transition table: (state, event type) -> handler. Pairs not here: see `receive`."""
