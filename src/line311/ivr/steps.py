"""How an IVR session walks its flow: playing, entering nodes, keys, SR status (pure).

`FlowSteps` holds the moves the transition handlers (`line311.ivr.transitions`) are made of;
it emits commands and sets timers, never reads a clock.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from line311.call.commands import Command, Enqueue, Hangup, Play, SrLookup, StopPlayback, Transfer
from line311.call.record import Outcome
from line311.call.srnumber import SR_NUMBER_LENGTH, validate_sr_number
from line311.call.values import OTHER_LANGUAGE
from line311.ivr.alert_nodes import orphaned_alerts
from line311.ivr.alerts import Moment, due
from line311.ivr.flow import LANGUAGES, Node, NodeKind
from line311.ivr.state import (
    MAX_ENTRY_DIGITS,
    SR_STATUSES,
    Item,
    Phase,
    SessionCore,
    State,
    alert_of,
    expand,
)

__all__ = ["MAX_MEDIA_LIST", "SR_CONFIRM_PROMPT", "FlowSteps"]

SR_CONFIRM_PROMPT = "sr_confirm_options"
"""The end of an SR number's read-back: "If this is correct, press 1. To enter the number
again, press 2." Keys before it begins were pressed without hearing the number."""

logger = logging.getLogger(__name__)

MAX_MEDIA_LIST = 24
"""At most this many prompts in one playback (one ``media`` list of ``POST /play``: an SR
number's digits and the words around them fit; the request line stays short)."""


class FlowSteps(SessionCore):
    """See the module docstring."""

    # ------------------------------------------------------------------ output helpers
    def _emit(self, command: Command) -> None:
        self._pending.append(command)

    def _set_timer(self, delay: float, reason: str, now: float) -> None:
        self._timer = now + delay
        self._timer_reason = reason

    def _play_list(self, items: list[Item], now: float, state: State) -> None:
        """Start playing ``items`` one after the other, in ``state``."""
        self._stop_current()
        self._state = state
        self._playlist = list(items)
        self._play_next(now)

    def _play_next(self, now: float) -> None:
        self._drop_ended_alerts(now)
        if not self._playlist:
            self._current_items = []
            self._prompts_done(now)
            return
        group = self._next_group()
        self._playback_seq += 1
        playback_id = f"{self.call_id}-p{self._playback_seq}"
        self._current_playback = playback_id
        self._current_items = group
        self._current_index = 0
        self._record_prompt(group[0], now)  # the next ones as PlaybackContinuing says
        if self._state is not State.LOOKING_UP:
            self._set_timer(self.max_playback * len(group), "playback-timeout", now)
        (prompt_id, language, _tag), *rest = group
        self._emit(
            Play(
                playback_id=playback_id,
                prompt_id=prompt_id,
                language=language,
                then=tuple((p, lang) for p, lang, _t in rest),
            )
        )

    def _drop_ended_alerts(self, now: float) -> None:
        """Leave out the pushed alerts waiting in the playlist that were withdrawn or ended
        since they were queued: several alerts due at one moment play one after the other,
        and a supervisor withdrawing the second while the first plays must not have it
        heard (a withdrawn catalogue prompt would play; an uploaded one fails and is
        recorded as failed). The alert playing now plays to its end."""
        live = {a.alert_id for a in self._alerts if a.live(now)}
        while self._playlist:
            alert_id = alert_of(self._playlist[0])
            if alert_id is None or alert_id in live:
                return
            del self._playlist[0]
            logger.debug("alert %s ended before its turn: not played", alert_id)

    def _next_group(self) -> list[Item]:
        """The items the next playback plays, as one media list: a run of plain prompts,
        ended by an ``info:`` item if one comes next (its end is the list's end). A pushed
        alert plays alone: a missing alert is skipped alone and a key is ignored only while
        the alert plays. One request and one PlaybackFinished for the list instead of one
        per prompt (the language menu is 7 prompts, an SR number 12 digits)."""
        first = self._playlist.pop(0)
        group = [first]
        if first[2]:
            return group
        while self._playlist and len(group) < MAX_MEDIA_LIST:
            tag = self._playlist[0][2]
            if tag and not tag.startswith("info:"):
                break
            group.append(self._playlist.pop(0))
            if tag:
                break
        return group

    def _stop_current(self) -> None:
        if self._current_playback is not None:
            self._emit(StopPlayback(self._current_playback))
        self._current_playback = None
        self._current_items = []
        self._current_index = 0
        self._playlist = []

    def _end(self, now: float, outcome: Outcome, reason: str, *, hangup: bool = True) -> None:
        if hangup:  # hanging up stops any playback: no StopPlayback needed
            self._emit(Hangup(reason="normal" if outcome is not Outcome.FAILED else reason))
        self._state = State.DONE
        self._outcome = outcome
        self._timer = None
        self._call_deadline = None
        self._current_playback = None
        self._current_items = []
        self._current_index = 0
        self._playlist = []
        self._record["ended_at"] = now
        self._record["outcome"] = outcome.value
        self._record["end_reason"] = reason

    def _fail(self, now: float, reason: str) -> None:
        self._end(now, Outcome.FAILED, reason)

    def _set_exit(self, reason: str) -> None:
        """Why the call left the menus for a terminal node (kept when the call then ends)."""
        if self._state not in (State.ENDING, State.DONE):
            self._record["exit"] = reason

    # ------------------------------------------------------------------ flow walking
    def _prompts_of(self, node: Node) -> list[Item]:
        return [(p, self.language, "") for p in node.prompts.get(self.language, ())]

    def _say(self, *segments: str) -> list[Item]:
        """Prompt ids and ``say:<kind>:<value>`` tokens -> what to play in the caller's language."""
        return [(p, self.language, "") for seg in segments for p in expand(seg, self.language)]

    def _enter(self, node_id: str, now: float, alerts: Sequence[Item] = ()) -> None:
        """Enter ``node_id``: play ``alerts`` (due before it), the alerts targeted at it,
        then what the node says."""
        node = self.flow.node(node_id)
        if node_id != self.flow.start:
            self._left_start = True
        self._node_id = node_id
        self._attempts = 0
        self._phase = Phase.NONE
        self._record_entry("nodes", {"node": node_id, "at": now})
        if (node.kind.interactive or node.kind is NodeKind.PLAY) and node.topic is not None:
            self._topic = node.topic
        alerts = [*alerts, *self._alert_items(Moment.NODE, now, node_id)]
        if node.kind.terminal:
            self._play_list(alerts + self._prompts_of(node), now, State.ENDING)
            return
        if node.kind is NodeKind.ALERTS:
            node_prompts = self._alert_items(Moment.GREETING, now)
        elif node.kind is NodeKind.SR_STATUS and (
            len(self._record["sr_lookups"]) >= self.flow.settings.max_sr_lookups
        ):  # enough lookups for one call: "not available", 0 for a representative, 9 back
            self._phase = Phase.RESULT
            self._sr_number = None
            self._sr_result = self._say("sr_unavailable", "offer_representative")
            node_prompts = self._prompts_of(node) + self._sr_prompts()
        elif node.kind is NodeKind.SR_STATUS:
            self._phase = Phase.ENTRY
            self._entry = ""
            self._sr_number = None
            node_prompts = self._prompts_of(node) + self._say("sr_enter")
        else:
            node_prompts = self._node_prompts(node)
        self._play_list(alerts + node_prompts, now, State.PLAYING)

    # ------------------------------------------------------------------ pushed alerts
    def _alert_items(self, moment: Moment, now: float, node: str | None = None) -> list[Item]:
        """The pushed alerts due at ``moment`` as playlist items; they count as played."""
        language_known = self._record["language_selected_by"] is not None or not any(
            n.kind is NodeKind.LANGUAGE for n in self.flow.nodes.values()
        )
        items: list[Item] = []
        for alert in due(
            self._alerts,
            self._alerts_played,
            moment,
            now=now,
            language=self.language,
            language_known=language_known,
            node=node,
            fallback=orphaned_alerts(self.flow, self._alerts),
        ):
            chosen = alert.prompt_for(self.language)
            assert chosen is not None  # due() leaves out the unplayable
            self._alerts_played.append(alert.alert_id)
            items.append((chosen[0], chosen[1], f"alert:{alert.alert_id}"))
        return items

    def _node_prompts(self, node: Node) -> list[Item]:
        """What a node says when entered or repeated (sr_status: what its phase says)."""
        if node.kind is NodeKind.LANGUAGE:
            assert node.prompt is not None
            said = [(node.prompt, lang, "") for _key, lang in sorted(node.options.items())]
            if node.other is not None:  # "For all other languages, press 0", in English
                said.append((node.other.prompt, LANGUAGES[0], ""))
            return said
        if node.kind is NodeKind.INFO:
            content = self._info.get(node.info or "")
            if not content:
                return self._prompts_of(node) + self._say("info_unavailable", "info_after")
            said = self._say(*content)
            said[-1] = (said[-1][0], said[-1][1], f"info:{node.info}")
            return self._prompts_of(node) + said + self._say("info_after")
        if node.kind is NodeKind.SR_STATUS:
            return self._sr_prompts()
        return self._prompts_of(node)

    def _goto_terminal(self, node_id: str, now: float) -> None:
        """Leave for a terminal node from wherever the call is (timers, exhausted attempts)."""
        if self._state in (State.ENDING, State.DONE):
            return
        self._enter(node_id, now)

    def _prompts_done(self, now: float) -> None:
        node = self.flow.node(self._node_id)
        if self._state is State.ENDING:
            self._finish_terminal(node, now)
        elif self._state is State.LOOKING_UP:
            # "please wait" is over: answer with a result that came during it, or keep
            # waiting for one under the lookup timer
            self._sr_answer_if_pending(now)
        elif node.kind in (NodeKind.PLAY, NodeKind.ALERTS):
            assert node.next is not None
            self._enter(node.next, now)
        else:
            self._state = State.COLLECTING
            if node.kind is NodeKind.LANGUAGE:
                self._set_timer(self.flow.settings.language_timeout, "language-timeout", now)
            elif node.kind is NodeKind.SR_STATUS and self._phase is Phase.ENTRY:
                self._set_timer(self.flow.settings.entry_timeout, "entry-timeout", now)
            else:
                self._set_timer(self.flow.settings.digit_timeout, "digit-timeout", now)

    def _finish_terminal(self, node: Node, now: float) -> None:
        if node.kind is NodeKind.QUEUE:
            topic = node.topic or self._topic
            language = self._caller_language
            self._record["queue"] = {
                "language": language,
                "topic": topic,
                "priority": node.priority,
                "at": now,
            }
            self._emit(Enqueue(language=language, topic=topic, priority=node.priority))
            self._end(now, Outcome.QUEUED, "queued", hangup=False)
        elif node.kind is NodeKind.TRANSFER:
            assert node.endpoint is not None
            assert node.agency is not None
            self._record["referral"] = {"agency": node.agency, "endpoint": node.endpoint, "at": now}
            self._emit(Transfer(endpoint=node.endpoint, agency=node.agency))
            self._end(now, Outcome.REFERRED, "referred", hangup=False)
        else:
            self._end(now, self._resolution or Outcome.COMPLETED, "flow-finished")

    def _resolve(self, outcome: Outcome) -> None:
        self._resolution = outcome

    def _retry(self, prompt: str, now: float) -> None:
        """An invalid or missing entry: count it, then say so and repeat, or give up."""
        self._attempts += 1
        if self._attempts >= self.flow.settings.max_attempts:
            self._set_exit("max-attempts")
            self._goto_terminal(self.flow.settings.on_exhausted, now)
            return
        node = self.flow.node(self._node_id)
        self._play_list(self._say(prompt) + self._node_prompts(node), now, State.PLAYING)

    def _repeat(self, now: float) -> None:
        node = self.flow.node(self._node_id)
        if node.kind is NodeKind.SR_STATUS and self._phase is Phase.ENTRY:
            self._entry = ""
        self._play_list(self._node_prompts(node), now, State.PLAYING)

    def _back(self, now: float) -> None:
        if not self._history:
            self._retry("invalid_choice", now)
            return
        self._enter(self._history.pop(), now)

    def _forward(self, node_id: str, now: float) -> None:
        self._history.append(self._node_id)
        self._enter(node_id, now)

    # ------------------------------------------------------------------ SR status
    def _sr_prompts(self) -> list[Item]:
        if self._phase is Phase.ENTRY:
            return self._say("sr_enter")
        if self._phase is Phase.CONFIRM:
            assert self._sr_number is not None
            return self._say("sr_you_entered", f"say:digits:{self._sr_number}", SR_CONFIRM_PROMPT)
        return list(self._sr_result)

    def _sr_reading_back(self) -> bool:
        """Whether the SR number is being read back and not all of it has been heard yet.

        SR details need a positive confirmation of the number the caller *heard*: a "1" typed
        ahead after ``#`` would otherwise stop the read-back and confirm a number nobody
        listened to. Until "If this is correct, press 1" begins (Asterisk's
        ``PlaybackContinuing`` moves ``_current_index`` on to it) the read-back is not
        interruptible; from then on every digit has been said and a key barges in as usual.
        Without a ``PlaybackContinuing`` a key waits for the read-back's end: the safe side.
        """
        if self._phase is not Phase.CONFIRM or self._state is not State.PLAYING:
            return False
        items = self._current_items
        playing = items[self._current_index][0] if items else None
        return playing != SR_CONFIRM_PROMPT

    def _sr_key(self, key: str, now: float) -> None:
        if self._phase is Phase.ENTRY:
            if key == "*":
                self._repeat(now)
            elif key == "#":
                self._sr_submit(now)
            elif key.isdigit():
                self._entry += key
                if len(self._entry) > MAX_ENTRY_DIGITS:
                    self._entry = ""
                    self._retry("sr_invalid", now)
                elif self._state is State.COLLECTING:
                    self._set_timer(self.flow.settings.entry_timeout, "entry-timeout", now)
            else:  # A-D: the entry starts again, like after * or too many digits
                self._entry = ""
                self._retry("invalid_choice", now)
            return
        if self._phase is Phase.CONFIRM and key == "1":
            assert self._sr_number is not None
            self._sr_answer_pending = None
            self._play_list(self._say("sr_please_wait"), now, State.LOOKING_UP)
            self._set_timer(self.flow.settings.lookup_timeout, "lookup-timeout", now)
            self._emit(SrLookup(sr_number=self._sr_number))  # after the Play: no silence
        elif self._phase is Phase.CONFIRM and key == "2":
            self._phase = Phase.ENTRY
            self._entry = ""
            self._play_list(self._say("sr_enter"), now, State.PLAYING)
        else:
            self._menu_key(key, {}, now)

    def _sr_submit(self, now: float) -> None:
        entry, self._entry = self._entry, ""
        if not entry:
            self._retry("no_input", now)
        elif len(entry) != SR_NUMBER_LENGTH or not validate_sr_number(entry):
            self._retry("sr_invalid", now)
        else:
            self._sr_number = entry
            self._phase = Phase.CONFIRM
            self._attempts = 0
            self._play_list(self._sr_prompts(), now, State.PLAYING)

    def _sr_answer(self, result: str, status: str | None, updated: str | None, now: float) -> None:
        self._record["sr_lookups"].append(
            {"sr_number": self._sr_number, "result": result, "status": status, "at": now}
        )
        if result == "found":
            code = status if status in SR_STATUSES else "unknown"
            said = ["sr_status_is", f"sr_status_{code}"]
            if updated:
                said += ["sr_updated_on", f"say:date:{updated}"]
            said.append("sr_result_options")
            self._resolve(Outcome.SR_LOOKUP)
        elif result == "not_found":
            said = ["sr_not_found", "offer_representative"]
        else:
            said = ["sr_unavailable", "offer_representative"]
        self._phase = Phase.RESULT
        self._attempts = 0
        self._sr_result = self._say(*said)
        self._play_list(self._sr_prompts(), now, State.PLAYING)

    # ------------------------------------------------------------------ keys
    def _key(self, key: str, now: float) -> None:
        node = self.flow.node(self._node_id)
        if node.kind is NodeKind.LANGUAGE:
            language = node.options.get(key)
            if language is not None:
                self._choose_language(language, "dtmf", now)
            elif node.other is not None and key == node.other.key:
                self._choose_other_language(node.other.next, now)
            else:
                self._retry("invalid_choice", now)
        elif node.kind is NodeKind.SR_STATUS:
            self._sr_key(key, now)
        elif node.kind is NodeKind.MENU:
            self._menu_key(key, node.options, now)
        elif node.kind in (NodeKind.PLAY, NodeKind.ALERTS):
            assert node.next is not None  # an interruptible announcement: a key skips it
            self._enter(node.next, now)
        else:
            self._menu_key(key, {}, now)

    def _menu_key(self, key: str, options: Mapping[str, str], now: float) -> None:
        if key in options:
            self._forward(options[key], now)
        elif key == "*":
            self._repeat(now)
        elif key == "9":
            self._back(now)
        elif key == "0":
            self._set_exit("representative-requested")
            self._enter(self.flow.settings.representative, now)
        else:
            self._retry("invalid_choice", now)

    def _choose_language(self, language: str, how: str, now: float) -> None:
        self.language = language
        self._record["language"] = language
        self._record["language_selected_by"] = how
        node = self.flow.node(self._node_id)
        assert node.next is not None
        self._history.append(self._node_id)
        self._enter(node.next, now, self._alert_items(Moment.LANGUAGE, now))

    def _choose_other_language(self, target: str, now: float) -> None:
        """The caller speaks none of the menu's languages: straight to ``target`` (a person),
        spoken to in English, the call's language `OTHER_LANGUAGE` (routing brings in the
        interpreter line). Alerts targeted at a language are not played: this caller chose
        none, and waits for a person."""
        self.language = LANGUAGES[0]
        self._record["language"] = OTHER_LANGUAGE
        self._record["language_selected_by"] = "dtmf"
        self._set_exit("other-language")
        self._history.append(self._node_id)
        self._enter(target, now)

    def _record_alert(
        self, alert_id: str, item: Item | None, now: float, *, failed: bool = False
    ) -> None:
        assert item is not None
        entry: dict[str, Any] = {
            "prompt_id": item[0],
            "alert_id": alert_id,
            "language": item[1],
            "node": self._node_id,
            "at": now,
        }
        if failed:
            entry["failed"] = True
        self._record["alerts"].append(entry)

    def _sr_answer_if_pending(self, now: float) -> bool:
        pending, self._sr_answer_pending = self._sr_answer_pending, None
        if pending is None:
            return False
        result, status, updated = pending
        assert result is not None
        self._sr_answer(result, status, updated, now)
        return True
