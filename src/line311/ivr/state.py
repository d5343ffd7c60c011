"""The IVR session's vocabulary of states, its constants and its small pure helpers.

`SessionCore` declares every attribute of a `line311.ivr.session.CallSession`; the session's
behaviour is spread over `line311.ivr.steps` (walking the flow), `line311.ivr.transitions`
(one handler per (state, event) pair, in one table) and `line311.ivr.session` (the public
API and persistence).
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from typing import Any

from line311.call.commands import Command
from line311.call.record import Outcome
from line311.call.values import OTHER_LANGUAGE
from line311.ivr.alerts import PushedAlert
from line311.ivr.flow import Flow
from line311.ivr.say import say_date, say_digits, say_number, say_ordinal, say_time

__all__ = [
    "ANSWER_TIMEOUT",
    "DEFAULT_MAX_PLAYBACK",
    "MAX_ENTRY_DIGITS",
    "MAX_RECORD_ENTRIES",
    "SCHEMA",
    "SR_STATUSES",
    "Item",
    "Phase",
    "SessionCore",
    "State",
    "alert_of",
    "as_item",
    "copy_json",
    "expand",
]

logger = logging.getLogger("line311.ivr.session")

ANSWER_TIMEOUT = 5.0
"""Seconds the edge has to confirm our ``Answer`` before the session gives up on the call."""

DEFAULT_MAX_PLAYBACK = 120.0
"""Default longest time one prompt may take to play before the session assumes it is stuck."""

SR_STATUSES = frozenset({"open", "in_progress", "assigned", "pending", "closed"})
"""SR status codes with a prompt of their own (``sr_status_<code>``); others are "unknown"."""

SCHEMA = 2
MAX_ENTRY_DIGITS = 20

MAX_RECORD_ENTRIES = 200
"""Most entries the record keeps of each of its ``digits``, ``prompts`` and ``nodes``: a caller
holding a key down (thousands of DTMF events) must not grow the state saved on every event
without limit. Past it the oldest go and ``<list>_dropped`` counts them, as the edge's trim to
the CRM bridge's size does (`line311.ari.ivr_kind`)."""


class State(enum.Enum):
    """Where the session is. ``DONE`` is the only terminal state."""

    ANSWERING = "answering"
    PLAYING = "playing"
    COLLECTING = "collecting"
    LOOKING_UP = "looking_up"
    ENDING = "ending"
    DONE = "done"


class Phase(enum.Enum):
    """Sub-step of an sr_status node (other nodes use ``NONE``)."""

    NONE = "none"
    ENTRY = "entry"
    CONFIRM = "confirm"
    RESULT = "result"


Item = tuple[str, str, str]  # (prompt_id, language, tag) - tag "alert:<id>" marks a pushed alert


class SessionCore:
    """Every attribute of a call session (set by ``CallSession.__init__`` / ``from_dict``)."""

    call_id: str
    dialed_number: str
    flow: Flow
    language: str
    max_playback: float
    _alerts: list[PushedAlert]
    _alerts_played: list[str]
    _info: dict[str, list[str]]
    _state: State
    _outcome: Outcome | None
    _resolution: Outcome | None
    _pending: list[Command]
    _timer: float | None
    _timer_reason: str
    _call_deadline: float | None
    _playback_seq: int
    _current_playback: str | None
    _current_items: list[Item]
    """What ``_current_playback`` plays: one media list (`FlowSteps._play_next`)."""
    _current_index: int
    """Which of ``_current_items`` is playing (``PlaybackContinuing`` moves it on)."""
    _playlist: list[Item]
    _node_id: str
    _phase: Phase
    _attempts: int
    _history: list[str]
    _topic: str
    _entry: str
    _sr_number: str | None
    _sr_result: list[Item]
    _sr_answer_pending: list[str | None] | None
    _left_start: bool
    _record: dict[str, Any]

    @property
    def _caller_language(self) -> str:
        """The call's language for routing and records: ``language`` (what the IVR speaks),
        or `OTHER_LANGUAGE` when the caller chose "all other languages" (then spoken to in
        English). Kept in the record, so a saved session carries it."""
        if self._record["language"] == OTHER_LANGUAGE:
            return OTHER_LANGUAGE
        return self.language

    @property
    def _current_item(self) -> Item | None:
        """The last item of the playback under way: the one whose tag speaks for it (an
        alert plays alone; an ``info:`` item ends its list)."""
        return self._current_items[-1] if self._current_items else None

    def _record_prompt(self, item: Item, now: float) -> None:
        self._record_entry("prompts", {"prompt_id": item[0], "language": item[1], "at": now})

    def _record_digit(self, digit: str, now: float, *, ignored: bool = False) -> None:
        entry: dict[str, Any] = {"digit": digit, "node": self._node_id, "at": now}
        if ignored:
            entry["ignored"] = True
        self._record_entry("digits", entry)

    def _record_entry(self, key: str, entry: dict[str, Any]) -> None:
        """Append to the record's list ``key``, keeping at most `MAX_RECORD_ENTRIES`."""
        entries: list[Any] = self._record[key]
        entries.append(entry)
        if len(entries) > MAX_RECORD_ENTRIES:
            del entries[0]
            self._record[f"{key}_dropped"] = self._record.get(f"{key}_dropped", 0) + 1


def expand(segment: str, language: str) -> list[str]:
    """A prompt id stays itself; ``say:<kind>:<value>`` becomes the prompt ids that speak it.

    Kinds: ``digits`` (read one by one, e.g. SR numbers), ``number``, ``ordinal``, ``date``
    (ISO ``YYYY-MM-DD``) and ``time`` (``HH:MM``). A value that cannot be spoken is skipped
    (content comes from outside; one bad value must not cost the caller the rest).
    """
    if not segment.startswith("say:"):
        return [segment]
    kind, _, value = segment[4:].partition(":")
    try:
        if kind == "digits":
            return say_digits(value, language)
        if kind == "number":
            return say_number(int(value), language)
        if kind == "ordinal":
            return say_ordinal(int(value), language)
        if kind == "date":
            return say_date(dt.date.fromisoformat(value), language)
        if kind == "time":
            return say_time(dt.time.fromisoformat(value), language)
    except ValueError:
        pass
    logger.debug("cannot speak %r in %s: skipped", segment, language)
    return []


def alert_of(item: Item | None) -> str | None:
    """The alert id of a playlist item that is a pushed alert (None: not an alert)."""
    if item is None:
        return None
    if item[2] == "alert":  # saved by a version that did not tag the id
        return item[0]
    return item[2].removeprefix("alert:") if item[2].startswith("alert:") else None


def as_item(raw: Any) -> Item:
    prompt_id, language, tag = raw
    return (str(prompt_id), str(language), str(tag))


def copy_json(value: Any) -> Any:
    """Deep copy of JSON-like data (dicts, lists, tuples as lists, scalars)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [copy_json(v) for v in value]
    return value
