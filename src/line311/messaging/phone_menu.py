"""The supervisor line's states, menus, limits and what it may emit (pure).

The machine itself is `line311.messaging.phone.SupervisorSession`; this is its vocabulary.
"""

from __future__ import annotations

from enum import Enum

from line311.call.commands import (
    Answer,
    CheckAudio,
    CheckPin,
    Hangup,
    Play,
    PlayRecording,
    Record,
    StopPlayback,
    StopRecording,
    SubmitAlert,
)

__all__ = [
    "ANSWER_TIMEOUT",
    "DIGIT_TIMEOUT",
    "ENDING_TIMEOUT",
    "HARMLESS_FAILURES",
    "INPUT_STATES",
    "KIND",
    "MAX_HOURS",
    "MAX_ID_DIGITS",
    "MAX_PIN_DIGITS",
    "MAX_TIMEOUTS",
    "MENU_PROMPT",
    "PROBLEM_PROMPT",
    "TERMINATED_BY_POUND",
    "SupervisorCommand",
    "SupervisorState",
]

KIND = "supervisor-line"
"""The session kind, as saved in `SupervisorSession.to_dict`."""
MAX_TIMEOUTS = 3
DIGIT_TIMEOUT = 10.0
ANSWER_TIMEOUT = 30.0  # the edge's answer to CheckPin / CheckAudio
ENDING_TIMEOUT = 60.0  # the last prompt must not keep the line forever
MAX_ID_DIGITS = 8
MAX_PIN_DIGITS = 12
MAX_HOURS = 72

SupervisorCommand = (
    Answer
    | Play
    | PlayRecording
    | StopPlayback
    | Record
    | StopRecording
    | CheckPin
    | CheckAudio
    | SubmitAlert
    | Hangup
)
"""What the session emits (all from `line311.call.commands`)."""


class SupervisorState(Enum):
    ENTER_ID = "enter_id"
    ENTER_PIN = "enter_pin"
    CHECKING_PIN = "checking_pin"
    RECORDING = "recording"  # the instructions play, then Asterisk records
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
MENU_PROMPT = {
    _S.ENTER_ID: "sup_enter_id",
    _S.ENTER_PIN: "sup_enter_pin",
    _S.REVIEW: "sup_review",
    _S.LANGUAGE: "sup_choose_language",
    _S.AUDIENCE: "sup_choose_audience",
    _S.HOURS: "sup_enter_hours",
    _S.CONFIRM: "sup_confirm",
}
PROBLEM_PROMPT = {
    "too-short": "sup_too_short",
    "too-long": "sup_too_long",
    "silent": "sup_silent",
}
INPUT_STATES = frozenset(MENU_PROMPT)
TERMINATED_BY_POUND = frozenset({_S.ENTER_ID, _S.ENTER_PIN, _S.HOURS})
HARMLESS_FAILURES = frozenset({"StopPlayback", "StopRecording", "Hangup"})
