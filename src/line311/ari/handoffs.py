"""What the IVR's hand-off commands do at the edge: ``SrLookup``, ``Enqueue``, ``Transfer``.

::

    SrLookup  CRM GET /v1/sr/{n} (bounded) -> SrLookupResult (found / not_found / unavailable)
    Enqueue   placeholder until the queue registers its handler: "sorry", then hang up
    Transfer  originate the agency leg, bridge both in a mixing bridge until one hangs up;
              if the leg fails: an apology, then hang up

``Transfer`` and ``Enqueue`` end the session; their handler owns the channel from then on. The
handler notes what it did on the session (``path.handoff``) before it returns, so the call
record written right after carries it. Work that outlives the call record (a referral
bridge, a goodbye prompt) runs as tasks of the `running` task group.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from line311.ari.errors import AriError
from line311.ari.port import AriPort
from line311.call.commands import Enqueue, SrLookup, Transfer
from line311.call.events import SrLookupResult
from line311.errors import Line311Error
from line311.ivr.catalogue import spoken_language
from line311.ivr.session import SR_STATUSES

if TYPE_CHECKING:
    from line311.ari.ivr_kind import EdgeSession

__all__ = ["CrmLookupPort", "Handoffs", "dial_string", "sr_status_code"]

logger = logging.getLogger("line311.ari.ivr_edge")


_STATUS_SYNONYMS = {
    "new": "open",
    "submitted": "open",
    "acknowledged": "open",
    "started": "in_progress",
    "in_process": "in_progress",
    "on_hold": "pending",
    "waiting": "pending",
    "resolved": "closed",
    "completed": "closed",
    "cancelled": "closed",
    "canceled": "closed",
}


def sr_status_code(raw: object) -> str:
    """The session's status code (``sr_status_<code>`` prompts) for a CRM status value;
    ``unknown`` for anything without a prompt of its own."""
    if not isinstance(raw, str):
        return "unknown"
    code = raw.strip().lower().replace(" ", "_").replace("-", "_")
    code = _STATUS_SYNONYMS.get(code, code)
    return code if code in SR_STATUSES else "unknown"


def dial_string(endpoint: str, referral_trunk: str) -> str:
    """The Asterisk dial string for a flow's transfer ``endpoint``.

    A full PJSIP dial string (``PJSIP/dof@referral``) is used as is; a bare agency line id
    (``dof``) is sent over the referral trunk: ``PJSIP/dof@<referral_trunk>``. Other
    technologies are refused (a flow file must not reach into the dialplan).
    """
    if endpoint.startswith("PJSIP/") and len(endpoint) > len("PJSIP/"):
        return endpoint
    if endpoint.replace("_", "").replace("-", "").isalnum():
        return f"PJSIP/{endpoint}@{referral_trunk}"
    raise ValueError(f"transfer endpoint {endpoint!r} is neither PJSIP/... nor a line id")


class CrmLookupPort(Protocol):
    """What the SR lookup needs of `line311.crm_bridge.client.CrmClient`."""

    async def lookup_sr(self, sr_number: str) -> dict[str, Any] | None: ...


CommandHandler = Callable[[str, Any], Any]
"""A hand-off handler (`line311.ari.kinds.CommandHandler`, loosely typed for the fakes)."""


def _channel_of(event: Mapping[str, Any]) -> str | None:
    channel = event.get("channel")
    cid = channel.get("id") if isinstance(channel, Mapping) else None
    return cid if isinstance(cid, str) else None


@dataclass(slots=True)
class _Counters:
    lookups: dict[str, int] = field(default_factory=dict)
    referrals: dict[str, int] = field(default_factory=dict)


class Handoffs:
    """The hand-off handlers (`IvrEdge` is one). ``lookup_timeout`` bounds one SR lookup
    (then "unavailable"); ``dial_timeout`` bounds how long an agency line may ring."""

    def __init__(
        self,
        *,
        ari: AriPort,
        crm: CrmLookupPort,
        sounds_uri_prefix: str,
        referral_trunk: str = "referral",
        referral_caller_id: str = "NYC 311 <311>",
        dial_timeout: int = 30,
        lookup_timeout: float = 5.0,
        goodbye_timeout: float = 30.0,
        enqueue_fallback_prompt: str = "apology",
    ) -> None:
        self._ari = ari
        self._crm = crm
        self._prefix = sounds_uri_prefix.rstrip("/")
        self._trunk = referral_trunk
        self._caller_id = referral_caller_id
        self._dial_timeout = dial_timeout
        self._lookup_timeout = lookup_timeout
        self._goodbye_timeout = goodbye_timeout
        self._fallback_prompt = enqueue_fallback_prompt
        self._sessions: weakref.WeakValueDictionary[str, EdgeSession] = (
            weakref.WeakValueDictionary()
        )
        self._tg: asyncio.TaskGroup | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.counters = _Counters()

    def session(self, call_id: str) -> EdgeSession | None:
        """The live session of ``call_id`` (while the controller holds it)."""
        return self._sessions.get(call_id)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The task group the hand-offs' background work runs in; cancelled on exit."""
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            try:
                yield
            finally:
                self._tg = None
                for task in list(self._tasks):
                    task.cancel()

    def _spawn(self, coro: Any, name: str) -> None:
        if self._tg is None:
            coro.close()
            raise RuntimeError("hand-off work needs `async with edge.running()`")
        task: asyncio.Task[None] = self._tg.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ SR lookup
    async def sr_lookup(self, channel_id: str, command: SrLookup) -> SrLookupResult:
        """Look the SR up by its number only; map the answer to the session's codes."""
        number = command.sr_number
        try:
            async with asyncio.timeout(self._lookup_timeout):
                body = await self._crm.lookup_sr(number)
        except TimeoutError:
            logger.warning("SR lookup timed out after %.1f s", self._lookup_timeout)
            return self._lookup_result(number, "unavailable")
        except Line311Error as exc:
            logger.warning("SR lookup failed: %s", exc)
            return self._lookup_result(number, "unavailable")
        if body is None:
            return self._lookup_result(number, "not_found")
        updated = body.get("updated_date")
        return self._lookup_result(
            number,
            "found",
            status=sr_status_code(body.get("status")),
            updated=updated if isinstance(updated, str) and updated else None,
        )

    def _lookup_result(
        self, number: str, result: str, status: str | None = None, updated: str | None = None
    ) -> SrLookupResult:
        self.counters.lookups[result] = self.counters.lookups.get(result, 0) + 1
        return SrLookupResult(sr_number=number, result=result, status=status, updated=updated)

    # ------------------------------------------------------------------ Enqueue (placeholder)
    async def enqueue(self, channel_id: str, command: Enqueue) -> None:
        """Placeholder until the queue runtime registers its own handler: note the hand-off
        (language requirement, topic), say sorry in the caller's language and hang up."""
        session = self.session(channel_id)
        if session is not None:
            session.note(
                "handoff",
                {
                    "command": "Enqueue",
                    "handler": "placeholder",
                    "language": command.language,
                    "topic": command.topic,
                    "priority": command.priority,
                },
            )
        logger.warning(
            "no queue runtime: caller asked for a %s representative (topic %s); hanging up",
            command.language,
            command.topic,
            extra={"call_id": channel_id},
        )
        self._spawn(
            self._say_and_hang_up(
                channel_id, self._fallback_prompt, spoken_language(command.language)
            ),
            f"ivr-goodbye-{channel_id}",
        )

    async def _say_and_hang_up(self, channel_id: str, prompt: str, language: str) -> None:
        playback_id = f"{channel_id}-bye"
        try:
            async with self._ari.expect(
                ("PlaybackFinished", "StasisEnd", "ChannelDestroyed"),
                predicate=lambda e: (
                    e.get("playback", {}).get("id") == playback_id or _channel_of(e) == channel_id
                ),
            ) as done:
                await self._ari.play(channel_id, f"{self._prefix}/{language}/{prompt}", playback_id)
                await asyncio.wait_for(done, self._goodbye_timeout)
        except (AriError, TimeoutError) as exc:
            logger.debug("goodbye on %s cut short: %s", channel_id, exc)
        await self._hangup_quietly(channel_id)

    async def _hangup_quietly(self, channel_id: str) -> None:
        try:
            await self._ari.hangup(channel_id, "normal")
        except AriError as exc:
            logger.debug("hang-up of %s: %s", channel_id, exc)

    # ------------------------------------------------------------------ Transfer (referral)
    async def transfer(self, channel_id: str, command: Transfer) -> None:
        """Refer the caller: originate the agency leg, bridge both in a mixing bridge, and
        tear both down when either hangs up. If the leg fails, apologise and hang up."""
        session = self.session(channel_id)
        language = session.language if session is not None else "en"
        leg = f"{channel_id}-ref"
        note: dict[str, Any] = {"command": "Transfer", "agency": command.agency}
        try:
            dial = dial_string(command.endpoint, self._trunk)
        except ValueError as exc:
            logger.error("%s", exc, extra={"call_id": channel_id})
            return self._referral_failed(channel_id, session, note, "bad-endpoint", language)
        note["dial_string"] = dial
        watched = {channel_id, leg}
        stack = contextlib.AsyncExitStack()
        try:
            ended = await stack.enter_async_context(
                self._ari.expect(
                    ("StasisEnd", "ChannelDestroyed"),
                    predicate=lambda e: _channel_of(e) in watched,
                )
            )
            answered = await stack.enter_async_context(
                self._ari.expect(
                    ("StasisStart", "ChannelDestroyed"),
                    predicate=lambda e: _channel_of(e) == leg,
                )
            )
            with contextlib.suppress(AriError):
                await self._ari.ring(channel_id)
            result = await self._dial(leg, dial, answered, ended)
            if result != "answered":
                await stack.aclose()
                await self._hangup_quietly(leg)  # still ringing, or already gone
                return self._referral_failed(channel_id, session, note, result, language)
            bridge_id = f"{channel_id}-refbr"
            with contextlib.suppress(AriError):
                await self._ari.ring_stop(channel_id)
            await self._ari.create_bridge(bridge_id, "mixing")
            await self._ari.add_channel(bridge_id, [channel_id, leg])
        except AriError as exc:
            await stack.aclose()
            await self._hangup_quietly(leg)
            return self._referral_failed(channel_id, session, note, exc.error_id, language)
        except BaseException:
            await stack.aclose()
            raise
        note["result"] = "connected"
        note["bridge_id"] = bridge_id
        if session is not None:
            session.note("handoff", note)
        self._count_referral("connected")
        logger.info("referred to %s", command.agency, extra={"call_id": channel_id})
        self._spawn(
            self._hold_bridge(stack, ended, channel_id, leg, bridge_id), f"referral-{channel_id}"
        )
        return None

    async def _dial(
        self,
        leg: str,
        dial: str,
        answered: asyncio.Future[dict[str, Any]],
        ended: asyncio.Future[dict[str, Any]],
    ) -> str:
        """Originate the agency leg; "answered", "caller-hung-up", or why the leg failed."""
        try:
            await self._ari.originate(
                dial,
                leg,
                app_args=("outbound", "referral"),
                caller_id=self._caller_id,
                dial_timeout=self._dial_timeout,
            )
        except AriError as exc:
            return exc.error_id
        done, _ = await asyncio.wait(
            {answered, ended}, timeout=self._dial_timeout + 5, return_when=asyncio.FIRST_COMPLETED
        )
        if answered in done and answered.result().get("type") == "StasisStart":
            return "answered"
        if ended in done and _channel_of(ended.result()) != leg:
            return "caller-hung-up"
        if answered in done or ended in done:
            event = answered.result() if answered in done else ended.result()
            cause = event.get("cause_txt") or event.get("cause") or "unknown"
            return f"leg-failed:{cause}"
        return "no-answer"

    def _referral_failed(
        self,
        channel_id: str,
        session: EdgeSession | None,
        note: dict[str, Any],
        reason: str,
        language: str,
    ) -> None:
        note["result"] = "failed"
        note["reason"] = reason
        if session is not None:
            session.note("handoff", note, outcome="referral_failed")
        self._count_referral("failed")
        logger.warning("referral failed: %s", reason, extra={"call_id": channel_id})
        if reason != "caller-hung-up":
            self._spawn(
                self._say_and_hang_up(channel_id, "apology", language),
                f"referral-apology-{channel_id}",
            )

    def _count_referral(self, result: str) -> None:
        self.counters.referrals[result] = self.counters.referrals.get(result, 0) + 1

    async def _hold_bridge(
        self,
        stack: contextlib.AsyncExitStack,
        ended: asyncio.Future[dict[str, Any]],
        caller: str,
        leg: str,
        bridge_id: str,
    ) -> None:
        """Wait until either party hangs up, then hang up the other and drop the bridge."""
        try:
            event = await ended
            gone = _channel_of(event)
            logger.info(
                "referral ended: %s hung up",
                "caller" if gone == caller else "agency",
                extra={"call_id": caller},
            )
        finally:
            await stack.aclose()
            for channel_id in (caller, leg):
                await self._hangup_quietly(channel_id)
            with contextlib.suppress(AriError):
                await self._ari.destroy_bridge(bridge_id)
