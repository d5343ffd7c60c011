"""The supervisor phone line: record an announcement by phone (pure state machine).

(Past ~400 lines: the machine, its transition table and its serialisation belong together;
its states, menus and limits are in `line311.messaging.phone_menu`.)

Theory of operation
-------------------
A CCR phone dials the feature code (``*80``); the dialplan hands the call to
``Stasis(line311,agent-feature,*80)`` and the edge (`line311.ari.supervisor_kind`) runs one
`SupervisorSession` for it. Like the IVR's `CallSession`, the session implements
`line311.call.ports.Session`: it takes `line311.call.events` and ``now`` and returns
`line311.call.commands`; it reads no clock and does no I/O::

    ENTER_ID ─#─▶ ENTER_PIN ─#─▶ CHECKING_PIN ──ok──▶ RECORDING ──done──▶ CHECKING_AUDIO
       ▲                              │ wrong (n < max)                        │ too short/
       └──────────────────────────────┘ locked ──▶ ENDING (hang up)           │ silent/long
                                                                               ▼    (spoken
    REVIEW (hear it back; 1 keep, 2 record again) ◀──────────── ok ───────── reason, then
      │1                                                                    record again)
      ▼
    LANGUAGE (1-7) ─▶ AUDIENCE (1 all callers, 2 that language) ─▶ HOURS (1-72 #)
      ─▶ CONFIRM (1 submit, 2 cancel) ─▶ SUBMITTING ──AlertSubmitted──▶ ENDING (goodbye)

Every prompt is a catalogue prompt (``content/catalogue/messaging.yaml``), played in English
(the line is for staff), one playback after the other. Digits typed while a prompt plays
stop it (barge-in). A menu that gets no answer is repeated; after `MAX_TIMEOUTS` silences
the call ends. The PIN is checked by the edge (`CheckPin`, see `line311.messaging.pins`);
the recording is made by Asterisk (`Record`, after the instructions), measured by the edge
(`CheckAudio`) and submitted as an alert awaiting approval (`SubmitAlert`).

The transitions are the table `_TRANSITIONS` at the end: (state, event type) -> handler. A
pair not in it is ignored (a digit where none is asked for, a stale playback or a late
answer); `CallerHungUp` ends the session in any state, a failed command (`CommandFailed`)
hangs up and `Resumed` (after a restart) plays the interrupted prompt again. `receive`
never raises. The whole state is `to_dict` (JSON) and `from_dict` rebuilds it, except a PIN
being typed, which is never saved: a session restored mid-PIN asks for the PIN again.
"""

from __future__ import annotations

from typing import Any

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
from line311.call.events import (
    AlertSubmitted,
    AudioChecked,
    CallerHungUp,
    CommandFailed,
    DtmfReceived,
    Event,
    PinChecked,
    PlaybackFinished,
    RecordingFinished,
    Resumed,
)
from line311.ivr.catalogue import LANGUAGES
from line311.messaging.phone_menu import (
    ANSWER_TIMEOUT,
    DIGIT_TIMEOUT,
    ENDING_TIMEOUT,
    HARMLESS_FAILURES,
    INPUT_STATES,
    KIND,
    MAX_HOURS,
    MAX_ID_DIGITS,
    MAX_PIN_DIGITS,
    MAX_TIMEOUTS,
    MENU_PROMPT,
    PROBLEM_PROMPT,
    TERMINATED_BY_POUND,
    SupervisorCommand,
    SupervisorState,
)

__all__ = ["KIND", "MAX_TIMEOUTS", "SupervisorCommand", "SupervisorSession", "SupervisorState"]

_S = SupervisorState
_PROMPT, _RECORDING = "prompt", "recording"  # what a playlist item plays


class SupervisorSession:
    """One call on the supervisor line (see the module docstring).

    ``line`` names the calling endpoint (failed sign-ins count per line). ``max_failures``
    wrong PINs within the call end it even before the persistent lock;
    ``max_record_seconds`` bounds a recording. The first commands answer the call and ask
    for the supervisor's id.
    """

    def __init__(
        self,
        call_id: str,
        now: float,
        *,
        line: str = "",
        max_failures: int = 3,
        max_record_seconds: int = 180,
    ) -> None:
        self.call_id = call_id
        self.line = line or call_id
        self.max_failures = max_failures
        self.max_record_seconds = max_record_seconds
        self.state = _S.ENTER_ID
        self.username = ""
        self.outcome: str | None = None
        self.alert_id: str | None = None
        self._commands: list[SupervisorCommand] = [Answer()]
        self._digits = ""
        self._pin_lost = False
        self._phone_id = ""
        self._failures = 0
        self._timeouts = 0
        self._takes = 0
        self._recording = ""
        self._recorded: list[str] = []
        self._language = "en"
        self._all_callers = True
        self._hours = 0
        self._seq = 0
        self._playing: str | None = None
        self._current: tuple[str, str] | None = None
        """The playlist item ``_playing`` plays (replayed on `Resumed`)."""
        self._playlist: list[tuple[str, str]] = []
        self._deadline: float | None = None
        self._prompt(_S.ENTER_ID, now)

    # ------------------------------------------------------------------ Session
    @property
    def finished(self) -> bool:
        return self.state is _S.DONE

    def commands(self) -> list[SupervisorCommand]:
        out, self._commands = self._commands, []
        return out

    def next_deadline(self) -> float | None:
        return self._deadline

    def receive(self, event: Event, now: float) -> None:
        if self.state is _S.DONE:
            return
        if isinstance(event, CallerHungUp):
            self._end("hung-up")
        elif isinstance(event, CommandFailed):
            if event.command not in HARMLESS_FAILURES:
                self._end(f"failed:{event.command}:{event.reason}")
        elif isinstance(event, Resumed):
            self._replay()
        elif (handler := _TRANSITIONS.get((self.state, type(event)))) is not None:
            handler(self, event, now)

    def handle_timer(self, now: float) -> None:
        if self._deadline is None or now < self._deadline or self.state is _S.DONE:
            return
        self._deadline = None
        if self.state is _S.ENDING:
            self._end(self.outcome or "done")
        elif self.state not in INPUT_STATES:
            if self.state is _S.RECORDING and self._recording in self._recorded:
                self._commands.append(StopRecording(self._recording))
            self._fail("timeout", now)
        else:
            self._timeouts += 1
            if self._timeouts >= MAX_TIMEOUTS:
                self._say_then_end(("goodbye",), "no-input", now)
            else:
                self._prompt(self.state, now, prefix=("no_input",))

    @property
    def recordings(self) -> tuple[str, ...]:
        """The stored recordings this call made (the edge deletes them when it ends)."""
        return tuple(self._recorded)

    def to_dict(self) -> dict[str, Any]:
        """The whole state as JSON; never the PIN (a PIN being typed is not saved)."""
        typing_pin = self.state is _S.ENTER_PIN
        return {
            "kind": KIND,
            "call_id": self.call_id,
            "line": self.line,
            "max_failures": self.max_failures,
            "max_record_seconds": self.max_record_seconds,
            "state": self.state.value,
            "username": self.username,
            "outcome": self.outcome,
            "alert_id": self.alert_id,
            "digits": "" if typing_pin else self._digits,
            "pin_lost": self._pin_lost or (typing_pin and bool(self._digits)),
            "phone_id": self._phone_id,
            "failures": self._failures,
            "timeouts": self._timeouts,
            "takes": self._takes,
            "recording": self._recording,
            "recorded": list(self._recorded),
            "language": self._language,
            "all_callers": self._all_callers,
            "hours": self._hours,
            "seq": self._seq,
            "playing": self._playing,
            "current": None if self._current is None else list(self._current),
            "playlist": [list(item) for item in self._playlist],
            "deadline": self._deadline,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SupervisorSession:
        """The session `to_dict` saved (KeyError/ValueError when ``data`` is not one)."""
        if data.get("kind") != KIND:
            raise ValueError(f"not a {KIND} session: {data.get('kind')!r}")
        self = cls.__new__(cls)
        self.call_id = str(data["call_id"])
        self.line = str(data["line"])
        self.max_failures = int(data["max_failures"])
        self.max_record_seconds = int(data["max_record_seconds"])
        self.state = SupervisorState(data["state"])
        self.username = str(data["username"])
        self.outcome = None if data["outcome"] is None else str(data["outcome"])
        self.alert_id = None if data["alert_id"] is None else str(data["alert_id"])
        self._commands = []
        self._digits = str(data["digits"])
        self._pin_lost = bool(data["pin_lost"])
        self._phone_id = str(data["phone_id"])
        self._failures = int(data["failures"])
        self._timeouts = int(data["timeouts"])
        self._takes = int(data["takes"])
        self._recording = str(data["recording"])
        self._recorded = [str(name) for name in data["recorded"]]
        self._language = str(data["language"])
        self._all_callers = bool(data["all_callers"])
        self._hours = int(data["hours"])
        self._seq = int(data["seq"])
        self._playing = None if data["playing"] is None else str(data["playing"])
        current = data.get("current")
        self._current = None if current is None else (str(current[0]), str(current[1]))
        self._playlist = [(str(kind), str(value)) for kind, value in data["playlist"]]
        self._deadline = None if data["deadline"] is None else float(data["deadline"])
        return self

    # ------------------------------------------------------------------ playing
    def _stop_playing(self) -> None:
        if self._playing is not None:
            self._commands.append(StopPlayback(self._playing))
            self._playing = None
        self._playlist = []

    def _play(self, items: list[tuple[str, str]]) -> None:
        """Play ``items`` one after the other (what played before stops)."""
        self._stop_playing()
        self._playlist = items
        self._play_next()

    def _replay(self) -> None:
        """After a restart: the prompt that was playing may have ended while nobody listened
        (its end would never come), so it is stopped and played again from its start."""
        if self._playing is None or self._current is None:
            return
        self._commands.append(StopPlayback(self._playing))
        self._playlist.insert(0, self._current)
        self._play_next()

    def _play_next(self) -> None:
        kind, value = self._playlist.pop(0)
        self._current = (kind, value)
        self._seq += 1
        self._playing = f"{self.call_id}-sup-{self._seq}"
        if kind == _RECORDING:
            self._commands.append(PlayRecording(self._playing, value))
        else:
            self._commands.append(Play(self._playing, value, "en"))

    def _say(self, prompts: tuple[str, ...]) -> None:
        self._play([(_PROMPT, p) for p in prompts])

    # ------------------------------------------------------------------ steps
    def _prompt(self, state: SupervisorState, now: float, prefix: tuple[str, ...] = ()) -> None:
        self.state = state
        self._digits = ""
        self._say((*prefix, MENU_PROMPT[state]))
        self._deadline = now + DIGIT_TIMEOUT

    def _go(self, state: SupervisorState, now: float, prefix: tuple[str, ...] = ()) -> None:
        self._timeouts = 0
        self._prompt(state, now, prefix)

    def _say_then_end(self, prompts: tuple[str, ...], outcome: str, now: float) -> None:
        self.outcome = outcome
        self.state = _S.ENDING
        self._say(prompts)
        self._deadline = now + ENDING_TIMEOUT

    def _end(self, outcome: str) -> None:
        hung_up = outcome == "hung-up"
        if not hung_up:
            self._stop_playing()
        self.outcome = self.outcome or outcome
        self.state = _S.DONE
        self._playing = None
        self._playlist = []
        self._deadline = None
        if not hung_up:
            self._commands.append(Hangup())

    def _fail(self, reason: str, now: float) -> None:
        self._say_then_end(("sup_error",), f"failed:{reason}", now)

    def _record(self, prefix: tuple[str, ...] = ()) -> None:
        """A new take: the instructions play first; recording starts when they finish."""
        self._takes += 1
        self._recording = f"alert-{self.call_id}-{self._takes}".replace(".", "-")
        self.state = _S.RECORDING
        self._timeouts = 0
        self._say((*prefix, "sup_record"))
        self._deadline = None

    def _wait_for_answer(self, state: SupervisorState, now: float, timeout: float) -> None:
        self.state = state
        self._deadline = now + timeout

    # ------------------------------------------------------------------ handlers
    def _on_digit(self, event: DtmfReceived, now: float) -> None:
        self._stop_playing()
        self._deadline = now + DIGIT_TIMEOUT
        state = self.state
        if state not in TERMINATED_BY_POUND:
            self._on_choice(state, event.digit, now)
        elif event.digit != "#":
            if event.digit.isdigit() and len(self._digits) < MAX_PIN_DIGITS:
                self._digits += event.digit
        else:
            entry, self._digits = self._digits, ""
            self._on_entry(state, entry, now)

    def _on_entry(self, state: SupervisorState, entry: str, now: float) -> None:
        if state is _S.ENTER_ID:
            if not entry or len(entry) > MAX_ID_DIGITS:
                self._prompt(_S.ENTER_ID, now, prefix=("invalid_choice",))
                return
            self._phone_id = entry
            self._go(_S.ENTER_PIN, now)
        elif state is _S.ENTER_PIN:
            if self._pin_lost:  # restored mid-PIN: its first digits were not saved
                self._pin_lost = False
                self._prompt(_S.ENTER_PIN, now, prefix=("invalid_choice",))
                return
            self._wait_for_answer(_S.CHECKING_PIN, now, ANSWER_TIMEOUT)
            self._commands.append(CheckPin(self.line, self._phone_id, entry))
        else:  # HOURS
            if not entry.isdigit() or not 1 <= int(entry) <= MAX_HOURS:
                self._prompt(_S.HOURS, now, prefix=("invalid_choice",))
                return
            self._hours = int(entry)
            self._go(_S.CONFIRM, now)

    def _on_choice(self, state: SupervisorState, digit: str, now: float) -> None:
        if state is _S.REVIEW and digit in ("1", "2"):
            if digit == "1":
                self._go(_S.LANGUAGE, now)
            else:
                self._record()
        elif state is _S.LANGUAGE and digit.isdigit() and 1 <= int(digit) <= len(LANGUAGES):
            self._language = LANGUAGES[int(digit) - 1]
            self._go(_S.AUDIENCE, now)
        elif state is _S.AUDIENCE and digit in ("1", "2"):
            self._all_callers = digit == "1"
            self._go(_S.HOURS, now)
        elif state is _S.CONFIRM and digit == "2":
            self._say_then_end(("sup_cancelled",), "cancelled", now)
        elif state is _S.CONFIRM and digit == "1":
            self._wait_for_answer(_S.SUBMITTING, now, ENDING_TIMEOUT)
            self._commands.append(
                SubmitAlert(
                    username=self.username,
                    recording=self._recording,
                    language=self._language,
                    all_callers=self._all_callers,
                    hours=self._hours,
                )
            )
        else:
            self._prompt(state, now, prefix=("invalid_choice",))

    def _on_playback_finished(self, event: PlaybackFinished, now: float) -> None:
        if event.playback_id != self._playing:
            return  # stopped or stale
        self._playing = None
        if self._playlist:
            self._play_next()
        elif self.state is _S.ENDING:
            self._end(self.outcome or "done")
        elif self.state is _S.RECORDING and self._recording not in self._recorded:
            self._recorded.append(self._recording)
            self._deadline = now + self.max_record_seconds + 15.0
            self._commands.append(Record(self._recording, self.max_record_seconds))

    def _on_pin_checked(self, event: PinChecked, now: float) -> None:
        if event.locked:
            self._say_then_end(("sup_locked",), "locked", now)
        elif not event.ok:
            self._failures += 1
            if self._failures >= self.max_failures:
                self._say_then_end(("sup_locked",), "locked", now)
            else:
                self._go(_S.ENTER_ID, now, prefix=("sup_wrong_pin",))
        else:
            self.username = event.username
            self._record()

    def _on_recording_finished(self, event: RecordingFinished, now: float) -> None:
        if event.name != self._recording or self._recording not in self._recorded:
            return  # an earlier take's
        if event.failed:
            self._fail("recording", now)
            return
        self._wait_for_answer(_S.CHECKING_AUDIO, now, ANSWER_TIMEOUT)
        self._commands.append(CheckAudio(event.name))

    def _on_audio_checked(self, event: AudioChecked, now: float) -> None:
        if event.name != self._recording:
            return
        if event.problem is not None:
            self._record(prefix=(PROBLEM_PROMPT.get(event.problem, "sup_error"),))
            return
        self.state = _S.REVIEW
        self._timeouts = 0
        self._digits = ""
        self._play([(_RECORDING, self._recording), (_PROMPT, "sup_review")])
        self._deadline = now + self.max_record_seconds + DIGIT_TIMEOUT

    def _on_alert_submitted(self, event: AlertSubmitted, now: float) -> None:
        if event.alert_id is None:
            self._fail("submit", now)
            return
        self.alert_id = event.alert_id
        self._say_then_end(("sup_submitted",), "submitted", now)


_TRANSITIONS: dict[tuple[SupervisorState, type], Any] = {
    **{(s, DtmfReceived): SupervisorSession._on_digit for s in INPUT_STATES},
    **{(s, PlaybackFinished): SupervisorSession._on_playback_finished for s in SupervisorState},
    (_S.CHECKING_PIN, PinChecked): SupervisorSession._on_pin_checked,
    (_S.RECORDING, RecordingFinished): SupervisorSession._on_recording_finished,
    (_S.CHECKING_AUDIO, AudioChecked): SupervisorSession._on_audio_checked,
    (_S.SUBMITTING, AlertSubmitted): SupervisorSession._on_alert_submitted,
}
"""The transition table: (state, event type) -> handler. Also `receive`: CallerHungUp ends
the session anywhere, CommandFailed hangs up, every other pair is ignored."""
