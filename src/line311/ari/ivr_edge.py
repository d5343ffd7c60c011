"""The IVR at the edge: which flow a new call runs, what it is told, and the IVR's session
kind for the runner (with the hand-off handlers of `line311.ari.handoffs`).

Theory of operation
-------------------
::

    flow_file    ──load_flow_file──▶ Reloadable[Flow].current ───┐
    content_file ──load_content────▶ Reloadable[Content] ─info_for(today)─┤
    alerts_provider(wall time) ───── at call start, then on each event if changed ─┤
                                                                   ▼
    Runner ──kind "ivr": start(CallStart) / resume(state)──▶ EdgeSession(CallSession(...))
    Runner ──kind.handlers──▶ sr_lookup / transfer / enqueue (`line311.ari.handoffs`)

*Reloads* (``POST /api/flows/reload``, ``line311 flows reload``, or a changed file seen by
`IvrEdge.watch`) build a new `Flow` / `Content` and swap them in only when they validate; a
refused file is logged with the validator's message and the old one stays. A call holds the
`Flow` object it started with, so calls in progress finish on the flow they began on (a call
resumed by another process resumes on the current flow if it is the same one, else starts
the IVR afresh).

*Self-service content* (`line311.ivr.content`, validated by `line311.ivr.validate`) becomes
the session's ``info`` for today's local date.

*Pushed alerts*: ``alerts_provider(wall_time)`` gives the live alerts (`PushedAlert`, most
urgent first, ``until`` on the wall clock). Before each event or timer the `EdgeSession` asks
again and, when the answer changed (an alert withdrawn, expired or activated), feeds the
session an ``AlertsChanged`` first, so an alert targeted at a node or a language is played
only if it is still live when the caller gets there.

*Orphaned alerts*: a reload is never refused because of an alert, so a live alert's node
can leave the flow. `orphaned_alerts` checks the live alerts against the current flow after
every reload, when a new call finds the live set changed, and at each /metrics scrape
(``line311_alerts_orphaned``); each one is logged once per flow at WARNING (alert id, node,
reason) and listed by ``GET /api/flows`` (``flow.orphaned_alerts``). Calls on that flow play
it where an alert without a node plays (`line311.ivr.alert_nodes.orphaned_alerts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from line311.ari.handoffs import (
    CommandHandler,
    CrmLookupPort,
    Handoffs,
)
from line311.ari.ivr_kind import EdgeSession, RecordSink, ivr_kind
from line311.ari.kinds import CallFacts, CallStart, SessionKind
from line311.ari.port import AriPort
from line311.ari.reloadable import Reloadable, content_registry, flow_registry
from line311.call.commands import Enqueue, SrLookup, Transfer
from line311.call.ports import Clock, SystemClock
from line311.errors import Line311Error
from line311.ivr.alert_nodes import alert_target_nodes, orphaned_alerts
from line311.ivr.alerts import PushedAlert, as_pushed, shift_clock
from line311.ivr.content import Content, info_for
from line311.ivr.flow import Flow, PromptSource
from line311.ivr.session import CallSession

__all__ = [
    "IvrEdge",
    "Reloadable",
    "build_ivr_edge",
    "content_registry",
    "flow_registry",
    "running",
]

logger = logging.getLogger(__name__)

AlertsProvider = Callable[[float], Sequence["str | PushedAlert"]]
"""``alerts_provider(wall_time)``: the pushed alerts live then, most urgent first."""


# ============================================================================ the edge
@dataclass(frozen=True, slots=True)
class ReloadReport:
    """What a reload did: per file, ``ok`` and either the new identity or the error."""

    ok: bool
    flow: dict[str, Any]
    content: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "flow": self.flow, "content": self.content}


class IvrEdge(Handoffs):
    """The IVR's edge services for one controller. See the module docstring.

    ``alerts_provider(wall_time)`` returns the pushed alerts live at that time, most urgent
    first (`PushedAlert` with ``until`` in POSIX seconds, or plain prompt ids; default:
    none). ``lookup_timeout`` bounds one SR lookup (then "unavailable"); ``dial_timeout``
    bounds how long an agency line may ring.
    """

    def __init__(
        self,
        *,
        flows: Reloadable[Flow],
        content: Reloadable[Content],
        ari: AriPort,
        crm: CrmLookupPort,
        sounds_uri_prefix: str,
        timezone: str = "America/New_York",
        alerts_provider: AlertsProvider | None = None,
        referral_trunk: str = "referral",
        referral_caller_id: str = "NYC 311 <311>",
        dial_timeout: int = 30,
        lookup_timeout: float = 5.0,
        goodbye_timeout: float = 30.0,
        enqueue_fallback_prompt: str = "apology",
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            ari=ari,
            crm=crm,
            sounds_uri_prefix=sounds_uri_prefix,
            referral_trunk=referral_trunk,
            referral_caller_id=referral_caller_id,
            dial_timeout=dial_timeout,
            lookup_timeout=lookup_timeout,
            goodbye_timeout=goodbye_timeout,
            enqueue_fallback_prompt=enqueue_fallback_prompt,
        )
        self.flows = flows
        self.content = content
        self._tz = ZoneInfo(timezone)
        self._alerts = alerts_provider
        self._clock: Clock = clock or SystemClock()
        self._orphans_warned: set[tuple[str, str, str]] = set()
        self._orphans_checked: tuple[str, tuple[str | PushedAlert, ...]] | None = None

    # ------------------------------------------------------------------ sessions
    def today(self) -> dt.date:
        """Today's date where the city is (setting ``timezone``)."""
        return dt.datetime.fromtimestamp(self._clock.now(), tz=self._tz).date()

    def info_provider(self, today: dt.date) -> dict[str, list[str]]:
        return info_for(self.content.current, today)

    def session_factory(self, call_id: str, dialed: str, now: float) -> EdgeSession:
        """``Controller(session_factory=...)``: a session on the current flow, with today's
        content and the alerts live now (kept up to date while the call lasts)."""
        live = self.live_alerts(now)
        raw, alerts = live if live is not None else ((), [])
        flow = self.flows.current
        if self._orphans_checked != (flow.fingerprint, raw):  # the live set or flow changed
            self._orphans_checked = (flow.fingerprint, raw)
            self._flag_orphans(flow, [as_pushed(a) for a in raw])
        session = EdgeSession(
            CallSession(
                call_id,
                dialed,
                now,
                flow=flow,
                alerts=alerts,
                info=self.info_provider(self.today()),
            ),
            alerts=self.live_alerts if self._alerts is not None else None,
            alerts_seen=raw,
            now=now,
        )
        self._sessions[call_id] = session
        return session

    def live_alerts(
        self, now: float
    ) -> tuple[tuple[str | PushedAlert, ...], list[PushedAlert]] | None:
        """The provider's alerts as given, and as a session of clock ``now`` carries them
        (``until`` moved onto that clock). None: no provider, or it failed (logged)."""
        if self._alerts is None:
            return None
        wall = self._clock.now()
        try:
            raw = tuple(self._alerts(wall))
        except Exception:
            logger.exception("alerts provider failed; the call goes on with the alerts it has")
            return None
        return raw, shift_clock((as_pushed(a) for a in raw), now - wall)

    def orphaned_alerts(self) -> list[dict[str, Any]]:
        """The live alerts whose node the current flow refuses (each logged once per flow
        at WARNING): ``alert_id``, ``node``, ``reason`` (as `line311.ivr.alert_nodes`),
        ``message`` and ``played_instead`` (``greeting``, or ``language`` for an alert that
        names languages: after the caller chooses one)."""
        if self._alerts is None:
            return []
        try:
            raw = tuple(self._alerts(self._clock.now()))
        except Exception:
            logger.exception("alerts provider failed; orphaned alerts not checked")
            return []
        return self._flag_orphans(self.flows.current, [as_pushed(a) for a in raw])

    def _flag_orphans(self, flow: Flow, alerts: Sequence[PushedAlert]) -> list[dict[str, Any]]:
        out = []
        by_id = {a.alert_id: a for a in alerts}
        for alert_id, refusal in orphaned_alerts(flow, alerts).items():
            alert = by_id[alert_id]
            instead = "language" if alert.languages else "greeting"
            key = (alert_id, str(alert.node), flow.fingerprint)
            if key not in self._orphans_warned:
                self._orphans_warned.add(key)
                logger.warning(
                    "alert %s targets node %r, which flow %r version %s refuses (%s): "
                    "played where alerts without a node play (after the %s) until the node "
                    "is back or the alert is withdrawn",
                    alert_id,
                    alert.node,
                    flow.name,
                    flow.version,
                    refusal.reason,
                    "language choice" if instead == "language" else "greeting",
                )
            out.append(
                {
                    "alert_id": alert_id,
                    "node": alert.node,
                    "reason": refusal.reason,
                    "message": refusal.message,
                    "played_instead": instead,
                }
            )
        return out

    def start(self, start: CallStart) -> EdgeSession:
        """The IVR kind's ``start``: `session_factory` for a new inbound call."""
        return self.session_factory(start.call_id, start.dialed_number, start.now)

    def resume(self, state: Mapping[str, Any], facts: CallFacts) -> EdgeSession:
        """The IVR kind's ``resume``: a saved session on the current flow (a session saved on
        another flow raises `SessionRestoreError`: the runner then starts the IVR afresh)."""
        session = EdgeSession.from_dict(
            state,
            flow=self.flows.current,
            alerts=self.live_alerts if self._alerts is not None else None,
            now=self._clock.now(),
        )
        self._sessions[facts.call_id] = session
        return session

    def session_kind(
        self, *, record_sink: RecordSink | None = None, enqueue: CommandHandler | None = None
    ) -> SessionKind:
        """The ``ivr`` session kind for `line311.ari.runner.Runner`, with this edge's
        hand-off handlers (``enqueue``: the queue's; default: the placeholder)."""
        return ivr_kind(
            self.start,
            self.resume,
            record_sink=record_sink,
            handlers=self.command_handlers(enqueue=enqueue),
        )

    def command_handlers(
        self, *, enqueue: CommandHandler | None = None
    ) -> dict[type[Any], CommandHandler]:
        """``Controller(command_handlers=...)``. ``enqueue``: the queue runtime's handler;
        without one, `enqueue` (a polite placeholder) is used."""
        return {
            SrLookup: self.sr_lookup,
            Transfer: self.transfer,
            Enqueue: enqueue or self.enqueue,
        }

    # ------------------------------------------------------------------ reloads
    def loaded(self) -> dict[str, Any]:
        """What is loaded: the flow's and the content's identity, file and last error, the
        nodes a pushed alert may target, and today's self-service facts (the body of
        ``GET /api/flows``)."""
        flow, content = self.flows.current, self.content.current
        return {
            "flow": {
                "name": flow.name,
                "version": flow.version,
                "fingerprint": flow.fingerprint[:12],
                "file": self.flows.path.name,
                "last_error": self.flows.last_error,
                "alert_nodes": alert_target_nodes(flow),
                "orphaned_alerts": self.orphaned_alerts(),
            },
            "content": {
                "version": content.version,
                "fingerprint": content.fingerprint[:12],
                "file": self.content.path.name,
                "last_error": self.content.last_error,
                "today": info_for(content, self.today()),
            },
        }

    def reload(self) -> ReloadReport:
        """Reload the flow and the content; each is swapped in only if it validates."""
        flow_part: dict[str, Any]
        content_part: dict[str, Any]
        try:
            flow = self.flows.reload()
            flow_part = {
                "ok": True,
                "name": flow.name,
                "version": flow.version,
                "fingerprint": flow.fingerprint[:12],
                "orphaned_alerts": self.orphaned_alerts(),
            }
        except Line311Error as exc:
            flow_part = {"ok": False, "error": str(exc), "kept_version": self.flows.current.version}
        try:
            content = self.content.reload()
            content_part = {
                "ok": True,
                "version": content.version,
                "fingerprint": content.fingerprint[:12],
            }
        except Line311Error as exc:
            content_part = {"ok": False, "error": str(exc)}
        return ReloadReport(bool(flow_part["ok"] and content_part["ok"]), flow_part, content_part)

    async def watch(self, interval: float) -> None:
        """Reload a file when its modification time changes (until cancelled)."""
        while True:
            await asyncio.sleep(interval)
            for registry in (self.flows, self.content):
                if not registry.changed():
                    continue
                try:
                    await asyncio.to_thread(registry.reload)
                except Line311Error:
                    pass  # logged by the registry; the old version stays
                except Exception:
                    logger.exception("reloading %s failed", registry.what)
                else:
                    if registry is self.flows:
                        self.orphaned_alerts()  # logs each one the new flow leaves


# ============================================================================ wiring helpers
@contextlib.asynccontextmanager
async def running(edge: IvrEdge, watch_interval: float) -> AsyncIterator[IvrEdge]:
    """Run the file watcher (when ``watch_interval`` > 0) and the hand-offs' background work
    in one task group; both are cancelled on exit."""
    async with edge.running(), asyncio.TaskGroup() as tg:
        watcher = tg.create_task(edge.watch(watch_interval)) if watch_interval > 0 else None
        try:
            yield edge
        finally:
            if watcher is not None:
                watcher.cancel()


def build_ivr_edge(
    settings: Any,
    ari: AriPort,
    crm: CrmLookupPort,
    *,
    sounds_uri_prefix: str,
    alerts_provider: AlertsProvider | None = None,
    clock: Clock | None = None,
) -> IvrEdge:
    """The `IvrEdge` for ``settings`` (a `line311.config.Settings`): the flow and content
    files validated against the prompt catalogue in ``catalogue_dir``."""
    from line311.ivr.catalogue import load_catalogue

    def catalogue() -> PromptSource:
        return load_catalogue(Path(settings.catalogue_dir))

    flows = flow_registry(settings.flow_file, catalogue)
    content = content_registry(Path(settings.content_file), catalogue)
    return IvrEdge(
        flows=flows,
        content=content,
        ari=ari,
        crm=crm,
        sounds_uri_prefix=sounds_uri_prefix,
        timezone=settings.timezone,
        alerts_provider=alerts_provider,
        referral_trunk=settings.referral_trunk,
        dial_timeout=settings.referral_dial_timeout,
        lookup_timeout=min(5.0, flows.current.settings.lookup_timeout),
        clock=clock,
    )
