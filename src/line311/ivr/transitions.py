"""The IVR session's transitions: one handler per (state, event type), in one table (pure).

A pair missing from `TRANSITIONS` is a protocol violation (`line311.ivr.session`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from line311.call.commands import Answer, SrLookup, StopPlayback
from line311.call.events import (
    AlertsChanged,
    Answered,
    CallerHungUp,
    CommandFailed,
    DtmfReceived,
    Event,
    PlaybackContinuing,
    PlaybackFinished,
    PlaybackStarted,
    Resumed,
    SrLookupResult,
)
from line311.call.record import Outcome
from line311.ivr.alerts import as_pushed
from line311.ivr.flow import LANGUAGES, NodeKind
from line311.ivr.state import Phase, State, alert_of
from line311.ivr.steps import FlowSteps

__all__ = ["TRANSITIONS", "Transitions", "transition_table"]

logger = logging.getLogger("line311.ivr.session")


class Transitions(FlowSteps):
    """The handlers of `TRANSITIONS` (the session's reactions to events and timers)."""

    def _on_answered(self, event: Answered, now: float) -> None:
        self._record["answered_at"] = now
        self._call_deadline = now + self.flow.settings.max_call
        self._enter(self.flow.start, now)

    def _on_playback_finished(self, event: PlaybackFinished, now: float) -> None:
        if event.playback_id != self._current_playback:
            return  # a stale playback (one we stopped earlier): nothing to do
        item = self._current_item
        alert_id = alert_of(item)
        if event.failed and alert_id is not None:
            # Alerts are recorded by supervisors at short notice: a missing one is skipped,
            # it must not cost every caller their call.
            self._record_alert(alert_id, item, now, failed=True)
        elif event.failed:
            self._fail(now, f"playback-failed:{event.playback_id}")
            return
        elif alert_id is not None:
            self._record_alert(alert_id, item, now)
        elif item is not None and item[2].startswith("info:"):
            info = item[2].removeprefix("info:")
            self._resolve(Outcome.SELF_SERVED)
            self._record["self_service"].append({"info": info, "at": now})
        self._current_playback = None
        self._play_next(now)

    def _on_playback_continuing(self, event: PlaybackContinuing, now: float) -> None:
        """The next prompt of the list playing now begins: it goes into the record."""
        if event.playback_id != self._current_playback:
            return  # a stale playback
        if self._current_index + 1 >= len(self._current_items):
            return  # more than the list holds: nothing to record
        self._current_index += 1
        self._record_prompt(self._current_items[self._current_index], now)

    def _on_dtmf(self, event: DtmfReceived, now: float) -> None:
        node = self.flow.node(self._node_id)
        interrupting = self._state is State.PLAYING
        # A pushed alert played on entering a menu is not skipped by a key (the alerts node
        # itself follows its own ``interruptible`` setting).
        alert_playing = (
            node.kind is not NodeKind.ALERTS and alert_of(self._current_item) is not None
        )
        # Neither is an SR number's read-back before its last digit: a key pressed then
        # (typed ahead after "#") is no confirmation of a number the caller has not heard.
        reading_back = node.kind is NodeKind.SR_STATUS and self._sr_reading_back()
        if interrupting and (not node.interruptible or alert_playing or reading_back):
            self._record_digit(event.digit, now, ignored=True)
            return
        self._record_digit(event.digit, now)
        if interrupting:
            self._stop_current()  # barge-in
            self._state = State.COLLECTING
            self._timer = None
        self._key(event.digit, now)
        if self._state is State.COLLECTING and self._timer is None:
            # barge-in that did not move the call on (e.g. an SR digit): wait for the next key
            reason = "entry-timeout" if self._phase is Phase.ENTRY else "digit-timeout"
            delay = (
                self.flow.settings.entry_timeout
                if self._phase is Phase.ENTRY
                else self.flow.settings.digit_timeout
            )
            self._set_timer(delay, reason, now)

    def _on_timer(self, reason: str, now: float) -> None:
        if reason in ("answer-timeout", "playback-timeout"):
            self._fail(now, reason)
        elif reason == "lookup-timeout":
            self._stop_current()
            if not self._sr_answer_if_pending(now):
                self._sr_answer("unavailable", None, None, now)
        elif reason == "language-timeout":
            self._choose_language(LANGUAGES[0], "timeout", now)
        elif reason == "entry-timeout" and self._entry:
            self._sr_submit(now)
        else:
            self._retry("no_input", now)

    def _on_sr_result(self, event: SrLookupResult, now: float) -> None:
        if event.sr_number != self._sr_number:
            return
        self._sr_answer_pending = [event.result, event.status, event.updated]
        if self._current_playback is None:  # "please wait" is over: answer now
            self._sr_answer_if_pending(now)

    def _on_caller_hung_up(self, event: CallerHungUp, now: float) -> None:
        """The caller's channel went. Lost with its Asterisk: ``media_server_lost`` (a call
        already resolved keeps its resolution; ``end_reason`` names the loss either way)."""
        lost = event.media_server_lost
        if self._resolution is not None:
            outcome = self._resolution
        elif lost:
            outcome = Outcome.MEDIA_SERVER_LOST
        elif self._left_start:
            outcome = Outcome.ABANDONED_IN_IVR
        else:
            outcome = Outcome.ABANDONED
        self._end(now, outcome, "media-server-lost" if lost else "caller-hung-up", hangup=False)

    def _on_command_failed(self, event: CommandFailed, now: float) -> None:
        if event.command == "StopPlayback":
            return  # the playback had already ended: a harmless race
        self._fail(now, f"command-failed:{event.command}:{event.reason}")

    def _on_alerts_changed(self, event: AlertsChanged, now: float) -> None:
        self._alerts = [as_pushed(a) for a in event.alerts]

    def _on_resumed(self, event: Resumed, now: float) -> None:
        """Carried on by another process: re-do what may have been lost meanwhile."""
        if self._state is State.ANSWERING:
            self._emit(Answer())  # answering an answered channel is harmless
            return
        items, playing = self._current_items[self._current_index :], self._current_playback
        if playing is not None and items:
            self._emit(StopPlayback(playing))  # it may still play; its end is then stale
            self._current_playback = None
            self._playlist[:0] = items
            # the interrupted prompt again, and the rest of its list, under a new playback id
            self._play_next(now)
        if self._state is State.LOOKING_UP and self._sr_number is not None:
            if self._sr_answer_pending is None:
                self._emit(SrLookup(sr_number=self._sr_number))  # its answer may be lost
            elif self._current_playback is None:
                self._sr_answer_if_pending(now)

    def _on_dtmf_ignored(self, event: DtmfReceived, now: float) -> None:
        """A key while answering, looking up or ending: no effect, but it is in the record."""
        self._record_digit(event.digit, now, ignored=True)

    def _ignore(self, event: Event, now: float) -> None:
        """Benign events that change nothing (e.g. PlaybackStarted, a late SR lookup result)."""


_Handler = Callable[[Transitions, Any, float], None]
_LIVE = (State.ANSWERING, State.PLAYING, State.COLLECTING, State.LOOKING_UP, State.ENDING)
TRANSITIONS: dict[tuple[State, type[Any]], _Handler] = {
    (State.ANSWERING, Answered): Transitions._on_answered,
    (State.ANSWERING, DtmfReceived): Transitions._on_dtmf_ignored,
    **{(s, PlaybackStarted): Transitions._ignore for s in _LIVE if s is not State.ANSWERING},
    **{(s, PlaybackContinuing): Transitions._on_playback_continuing for s in _LIVE},
    **{(s, PlaybackFinished): Transitions._on_playback_finished for s in _LIVE[1:]},
    (State.PLAYING, DtmfReceived): Transitions._on_dtmf,
    (State.COLLECTING, DtmfReceived): Transitions._on_dtmf,
    (State.LOOKING_UP, DtmfReceived): Transitions._on_dtmf_ignored,
    (State.ENDING, DtmfReceived): Transitions._on_dtmf_ignored,
    (State.LOOKING_UP, SrLookupResult): Transitions._on_sr_result,
    **{(s, SrLookupResult): Transitions._ignore for s in _LIVE[1:] if s is not State.LOOKING_UP},
    **{(s, CallerHungUp): Transitions._on_caller_hung_up for s in _LIVE},
    **{(s, CommandFailed): Transitions._on_command_failed for s in _LIVE},
    **{(s, AlertsChanged): Transitions._on_alerts_changed for s in _LIVE},
    **{(s, Resumed): Transitions._on_resumed for s in _LIVE},
}
"""The whole behaviour of the session: (state, event type) -> handler. Anything else is fatal."""


def transition_table() -> dict[tuple[State, type[Any]], str]:
    """The transition table as (state, event type) -> handler name, for docs and diagrams."""
    return {key: handler.__name__.lstrip("_") for key, handler in TRANSITIONS.items()}
