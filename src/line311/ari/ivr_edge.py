"""The IVR at the edge: which flow a new call runs, what it is told, and what the edge does
for the commands the controller leaves to handlers (``SrLookup``, ``Transfer``, ``Enqueue``).

Theory of operation
-------------------
::

    flow_file    ──load_flow_file──▶ Reloadable[Flow].current ───┐
    content_file ──load_content────▶ Reloadable[Content] ─info_for(today)─┤
    alerts_provider(wall time) ───── at call start, then on each event if changed ─┤
                                                                   ▼
    Controller ──session_factory(call_id, dialed, now)──▶ EdgeSession(CallSession(...))
    Controller ──command_handlers──▶ IvrEdge.sr_lookup   CRM GET /v1/sr/{n} -> SrLookupResult
                                     IvrEdge.transfer    originate agency leg, mixing bridge
                                     IvrEdge.enqueue     placeholder until the queue runtime

*Reloads* (``POST /api/flows/reload``, ``line311 flows reload``, or a changed file seen by
`IvrEdge.watch`) build a new `Flow` / `Content` and swap them in only when they validate; a
refused file is logged with the validator's message and the old one stays. A call holds the
`Flow` object it started with, so calls in progress finish on the flow they began on.

*Self-service content* is data (``content/nyc311.yaml``): dated suspensions and closures,
weekly patterns and the city holidays. `info_for` turns it into the session's ``info``
mapping for one local date: prompt ids from the catalogue and ``say:date:`` tokens, so the
session speaks it in the caller's language.

*Pushed alerts*: ``alerts_provider(wall_time)`` gives the live alerts (`PushedAlert`, most
urgent first, ``until`` on the wall clock); the edge moves ``until`` onto the session's clock.
Before each event or timer it asks again and, when the answer changed (an alert withdrawn,
expired or activated), feeds the session an ``AlertsChanged`` first, so an alert targeted at
a node or a language is played only if it is still live when the caller gets there.

*Hand-offs*: ``Transfer`` and ``Enqueue`` end the session; their handler owns the channel
from then on. The handler notes what it did on the `EdgeSession` (``path.handoff``) before it
returns, so the call record the controller posts right after carries it. Work that outlives
the call record (a referral bridge, a goodbye prompt) runs in background tasks of `IvrEdge`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

import yaml
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from line311.ari.errors import AriError
from line311.ari.ivr_kind import RecordSink, ivr_kind
from line311.ari.kinds import CallFacts, CallStart, SessionKind
from line311.call.commands import Enqueue, SrLookup, Transfer
from line311.call.events import AlertsChanged, Event, SrLookupResult
from line311.call.ports import Clock, SystemClock
from line311.errors import ConfigError, Line311Error
from line311.ivr.alerts import PushedAlert, as_pushed, shift_clock
from line311.ivr.flow import Flow, PromptSource, default_flow_path, load_flow_file
from line311.ivr.session import SR_STATUSES, CallSession

__all__ = [
    "CONTENT_SECTIONS",
    "Content",
    "ContentError",
    "EdgeSession",
    "IvrEdge",
    "Reloadable",
    "build_ivr_edge",
    "content_registry",
    "dial_string",
    "flow_registry",
    "flows_router",
    "info_for",
    "load_content_file",
    "parse_content",
    "running",
    "sr_status_code",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

AlertsProvider = Callable[[float], Sequence["str | PushedAlert"]]
"""``alerts_provider(wall_time)``: the pushed alerts live then, most urgent first."""
LiveAlerts = Callable[[float], "tuple[tuple[str | PushedAlert, ...], list[PushedAlert]] | None"]
"""`IvrEdge.live_alerts`: the alerts as given and on the session's clock (None: unknown)."""

MAX_PATH_BYTES = 15 * 1024
"""Records are trimmed (oldest prompts first) to stay under the CRM bridge's 16 KiB limit."""

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class ContentError(ConfigError):
    """The self-service content file is invalid; the message names the section and entry."""


# ============================================================================ reloadable files
class Reloadable(Generic[T]):
    """A value loaded from a file, replaced only by a successful reload.

    ``loader(path)`` raises a `Line311Error` for an invalid file: the reload is refused, the
    error logged and kept in `last_error`, and `current` stays what it was.
    """

    def __init__(self, what: str, path: Path, loader: Callable[[Path], T]) -> None:
        self.what = what
        self.path = path
        self._loader = loader
        self._mtime = self._stat()
        self.current: T = loader(path)
        self.last_error: str | None = None
        self.loaded_at = time.time()

    def _stat(self) -> float | None:
        try:
            return os.stat(self.path).st_mtime
        except OSError:
            return None

    def changed(self) -> bool:
        """Whether the file's modification time differs from the last load attempt."""
        return self._stat() != self._mtime

    def reload(self) -> T:
        """Load the file again; raise (and keep the old value) when it does not validate."""
        self._mtime = self._stat()
        try:
            value = self._loader(self.path)
        except Line311Error as exc:
            self.last_error = str(exc)
            logger.error("%s reload refused, keeping the current one: %s", self.what, exc)
            raise
        self.current = value
        self.last_error = None
        self.loaded_at = time.time()
        logger.info("%s reloaded from %s", self.what, self.path.name)
        return value


# ============================================================================ content
CONTENT_SECTIONS: Mapping[str, tuple[str, str, str]] = {
    # section: (info key, prompt when the dated/weekly/holiday rule applies, prompt otherwise)
    "alternate_side_parking": ("asp_today", "asp_suspended", "asp_in_effect"),
    "collection": ("collection", "collection_delayed", "collection_on_schedule"),
    "schools": ("school_closures", "schools_closed", "schools_open"),
    "government_offices": ("office_closures", "offices_closed", "offices_open"),
}
"""The content file's sections and what each says: the first prompt on a day the section's
rule applies (suspended, delayed, closed), the second on other days."""


@dataclass(frozen=True, slots=True)
class DatedEntry:
    """A rule that applies from ``start`` to ``end`` (inclusive)."""

    start: dt.date
    end: dt.date
    reason: str
    say: tuple[str, ...] = ()
    """Extra prompt ids (or ``say:`` tokens) spoken after the section's prompt."""


@dataclass(frozen=True, slots=True)
class Section:
    weekdays: frozenset[int] = frozenset()
    """Days of the week (0 = Monday) on which the rule applies every week."""
    holidays: bool = False
    """Whether the rule applies on every city holiday."""
    dates: tuple[DatedEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class Holiday:
    date: dt.date
    name: str


@dataclass(frozen=True, slots=True)
class Content:
    """Validated self-service content. Build one with `parse_content`."""

    version: int
    holidays: tuple[Holiday, ...]
    sections: Mapping[str, Section]
    fingerprint: str = ""


def info_for(content: Content, today: dt.date) -> dict[str, list[str]]:
    """What each info node says on ``today`` (a local date): prompt ids and ``say:`` tokens.

    ``holiday_schedule`` names the next city holiday on or after today; it is absent when
    the file lists none (the session then says "information unavailable").
    """
    holiday_dates = {h.date for h in content.holidays}
    info: dict[str, list[str]] = {}
    for name, (key, applies_prompt, otherwise_prompt) in CONTENT_SECTIONS.items():
        section = content.sections.get(name, Section())
        entry = next((e for e in section.dates if e.start <= today <= e.end), None)
        if entry is not None:
            info[key] = [applies_prompt, *entry.say]
        elif today.weekday() in section.weekdays or (section.holidays and today in holiday_dates):
            info[key] = [applies_prompt]
        else:
            info[key] = [otherwise_prompt]
    upcoming = sorted(h.date for h in content.holidays if h.date >= today)
    if upcoming:
        info["holiday_schedule"] = ["holiday_next", f"say:date:{upcoming[0].isoformat()}"]
    return info


def parse_content(text: str, *, catalogue: PromptSource | None = None) -> Content:
    """Parse and validate a content file. Raises `ContentError` naming the problem.

    With ``catalogue``, every extra prompt id an entry says must exist in the catalogue.
    """
    try:
        doc = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: e.g. a date 2026-13-01
        raise ContentError(f"not valid YAML (dates are YYYY-MM-DD): {exc}") from None
    if not isinstance(doc, dict):
        raise ContentError("the content file is a mapping with version, holidays and sections")
    allowed = {"version", "holidays", *CONTENT_SECTIONS}
    extra = sorted(set(map(str, doc)) - allowed)
    if extra:
        raise ContentError(f"unknown key(s): {', '.join(extra)}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise ContentError("'version' must be an integer")
    holidays: list[Holiday] = []
    for n, raw in enumerate(_list(doc.get("holidays"), "holidays")):
        where = f"holidays[{n}]"
        _keys(raw, {"date", "name"}, {"date", "name"}, where)
        holidays.append(Holiday(_date(raw["date"], where), _slug(raw["name"], where)))
    sections = {
        name: _section(doc.get(name) or {}, name, catalogue)
        for name in CONTENT_SECTIONS
        if name in doc
    }
    return Content(
        version=version,
        holidays=tuple(sorted(holidays, key=lambda h: h.date)),
        sections=sections,
        fingerprint=hashlib.sha256(text.encode()).hexdigest(),
    )


def load_content_file(path: Path, *, catalogue: PromptSource | None = None) -> Content:
    """Read and validate a content file (start-up and reloads only: file I/O)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContentError(f"cannot read content file {path}: {exc.strerror}") from None
    try:
        return parse_content(text, catalogue=catalogue)
    except ContentError as exc:
        raise ContentError(f"{path.name}: {exc}") from None


def _list(raw: Any, where: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ContentError(f"{where} must be a list")
    return raw


def _keys(raw: Any, allowed: set[str], required: set[str], where: str) -> None:
    if not isinstance(raw, dict):
        raise ContentError(f"{where} must be a mapping")
    extra = sorted(set(map(str, raw)) - allowed)
    if extra:
        raise ContentError(f"{where}: unknown key(s) {', '.join(extra)}")
    missing = sorted(required - set(raw))
    if missing:
        raise ContentError(f"{where}: missing {', '.join(missing)}")


def _date(raw: Any, where: str) -> dt.date:
    if isinstance(raw, dt.date) and not isinstance(raw, dt.datetime):
        return raw
    if isinstance(raw, str):
        try:
            return dt.date.fromisoformat(raw)
        except ValueError:
            pass
    raise ContentError(f"{where}: dates are YYYY-MM-DD, got {raw!r}")


def _slug(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not raw or not raw.replace("_", "").isalnum():
        raise ContentError(f"{where}: names and reasons are lower_snake_case keys, got {raw!r}")
    return raw


def _section(raw: Any, name: str, catalogue: PromptSource | None) -> Section:
    _keys(raw, {"weekdays", "holidays", "dates"}, set(), name)
    weekdays: set[int] = set()
    for day in _list(raw.get("weekdays"), f"{name}.weekdays"):
        if day not in _WEEKDAYS:
            raise ContentError(f"{name}.weekdays: {day!r} is not a day name ({_WEEKDAYS[0]} ...)")
        weekdays.add(_WEEKDAYS.index(day))
    on_holidays = raw.get("holidays", False)
    if not isinstance(on_holidays, bool):
        raise ContentError(f"{name}.holidays must be true or false")
    entries: list[DatedEntry] = []
    for n, entry in enumerate(_list(raw.get("dates"), f"{name}.dates")):
        where = f"{name}.dates[{n}]"
        _keys(entry, {"date", "until", "reason", "say"}, {"date", "reason"}, where)
        start = _date(entry["date"], where)
        end = _date(entry["until"], where) if entry.get("until") is not None else start
        if end < start:
            raise ContentError(f"{where}: 'until' is before 'date'")
        say = tuple(_list(entry.get("say"), f"{where}.say"))
        for token in say:
            if not isinstance(token, str) or not token:
                raise ContentError(f"{where}.say: prompt ids are strings")
            if catalogue is not None and not token.startswith("say:") and token not in catalogue:
                raise ContentError(f"{where}.say: unknown prompt id {token!r}")
        entries.append(DatedEntry(start, end, _slug(entry["reason"], where), say))
    return Section(frozenset(weekdays), on_holidays, tuple(entries))


# ============================================================================ SR status
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


# ============================================================================ dial strings
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


# ============================================================================ the session
class EdgeSession:
    """A `CallSession` plus what the edge learnt about the call after the session ended
    (``path.handoff``), and a record trimmed to what the CRM bridge accepts."""

    __slots__ = (
        "__weakref__",
        "_alerts",
        "_alerts_seen",
        "_last_now",
        "_notes",
        "_outcome",
        "inner",
    )

    def __init__(
        self,
        inner: CallSession,
        *,
        alerts: LiveAlerts | None = None,
        alerts_seen: tuple[str | PushedAlert, ...] = (),
        now: float = 0.0,
    ) -> None:
        self.inner = inner
        self._notes: dict[str, Any] = {}
        self._outcome: str | None = None
        self._alerts = alerts
        self._alerts_seen = alerts_seen
        self._last_now = now

    @property
    def finished(self) -> bool:
        return self.inner.finished

    @property
    def outcome(self) -> object:
        return self._outcome if self._outcome is not None else self.inner.outcome

    @property
    def language(self) -> str:
        return self.inner.language

    @property
    def flow(self) -> Flow:
        return self.inner.flow

    def receive(self, event: Event, now: float) -> None:
        self._refresh_alerts(now)
        self.inner.receive(event, now)
        self._last_now = max(self._last_now, now)

    def commands(self) -> Sequence[object]:
        return self.inner.commands()

    def next_deadline(self) -> float | None:
        return self.inner.next_deadline()

    def handle_timer(self, now: float) -> None:
        self._refresh_alerts(now)
        self.inner.handle_timer(now)
        self._last_now = max(self._last_now, now)

    def _refresh_alerts(self, now: float) -> None:
        """Tell the session when the live alerts changed since it last heard. The change is
        fed as of the last time the session saw, so it is in place before any timer due at
        ``now`` fires (`CallSession.receive` fires due timers first)."""
        if self._alerts is None or self.inner.finished:
            return
        live = self._alerts(now)
        if live is None or live[0] == self._alerts_seen:
            return
        self._alerts_seen = live[0]
        self.inner.receive(AlertsChanged(tuple(live[1])), self._last_now)

    def to_dict(self) -> dict[str, Any]:
        """The session's state and what the edge noted (JSON-able; see `from_dict`)."""
        notes = dict(self._notes)
        return {"session": self.inner.to_dict(), "notes": notes, "outcome": self._outcome}

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, flow: Flow, alerts: LiveAlerts | None = None, now: float
    ) -> EdgeSession:
        """Rebuild a session saved by `to_dict` (on the ``flow`` it was running). The live
        alerts are fed again at its next step."""
        session = cls(CallSession.from_dict(data["session"], flow=flow), alerts=alerts, now=now)
        session._notes = dict(data.get("notes") or {})
        session._outcome = data.get("outcome")
        return session

    def note(self, key: str, value: Any, *, outcome: str | None = None) -> None:
        """Add ``key`` to the recorded path (and override the outcome when given)."""
        self._notes[key] = value
        if outcome is not None:
            self._outcome = outcome

    def record(self) -> dict[str, Any]:
        record = self.inner.record()
        record.update(self._notes)
        if self._outcome is not None:
            record["outcome"] = self._outcome
        return _fit(record, MAX_PATH_BYTES)


def _fit(record: dict[str, Any], limit: int) -> dict[str, Any]:
    """Drop the oldest prompts, then digits, until the record serialises under ``limit``."""
    for key in ("prompts", "digits", "nodes"):
        while len(json.dumps(record, separators=(",", ":"))) > limit and record.get(key):
            items: list[Any] = record[key]
            cut = max(1, len(items) // 4)
            del items[:cut]
            record[f"{key}_dropped"] = record.get(f"{key}_dropped", 0) + cut
    return record


# ============================================================================ ports
class CrmLookupPort(Protocol):
    """What the SR lookup needs of `line311.crm_bridge.client.CrmClient`."""

    async def lookup_sr(self, sr_number: str) -> dict[str, Any] | None: ...


class HandoffAri(Protocol):
    """The part of `line311.ari.client.AriClient` the hand-off handlers use."""

    def expect(
        self,
        type: str | Iterable[str],  # noqa: A002 - the client's own parameter name
        *,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> contextlib.AbstractAsyncContextManager[asyncio.Future[dict[str, Any]]]: ...

    async def originate(
        self,
        endpoint: str,
        channel_id: str,
        *,
        app_args: str | Iterable[str] | None = None,
        caller_id: str | None = None,
        dial_timeout: int = 30,
    ) -> object: ...

    async def play(
        self, channel_id: str, media: str | Iterable[str], playback_id: str, lang: str | None = None
    ) -> object: ...

    async def hangup(self, channel_id: str, reason: str = "normal") -> None: ...

    async def ring(self, channel_id: str) -> None: ...

    async def ring_stop(self, channel_id: str) -> None: ...

    async def create_bridge(self, bridge_id: str, type: str = "mixing") -> object: ...  # noqa: A002

    async def add_channel(self, bridge_id: str, channel_id: str | Iterable[str]) -> None: ...

    async def destroy_bridge(self, bridge_id: str) -> None: ...


CommandHandler = Callable[[str, Any], Any]
"""A hand-off handler (`line311.ari.kinds.CommandHandler`, loosely typed for the fakes)."""


def _channel_of(event: Mapping[str, Any]) -> str | None:
    channel = event.get("channel")
    cid = channel.get("id") if isinstance(channel, Mapping) else None
    return cid if isinstance(cid, str) else None


# ============================================================================ the edge
@dataclass(frozen=True, slots=True)
class ReloadReport:
    """What a reload did: per file, ``ok`` and either the new identity or the error."""

    ok: bool
    flow: dict[str, Any]
    content: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "flow": self.flow, "content": self.content}


@dataclass(slots=True)
class _Counters:
    lookups: dict[str, int] = field(default_factory=dict)
    referrals: dict[str, int] = field(default_factory=dict)


class IvrEdge:
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
        ari: HandoffAri,
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
        self.flows = flows
        self.content = content
        self._ari = ari
        self._crm = crm
        self._prefix = sounds_uri_prefix.rstrip("/")
        self._tz = ZoneInfo(timezone)
        self._alerts = alerts_provider
        self._trunk = referral_trunk
        self._caller_id = referral_caller_id
        self._dial_timeout = dial_timeout
        self._lookup_timeout = lookup_timeout
        self._goodbye_timeout = goodbye_timeout
        self._fallback_prompt = enqueue_fallback_prompt
        self._clock: Clock = clock or SystemClock()
        self._sessions: weakref.WeakValueDictionary[str, EdgeSession] = (
            weakref.WeakValueDictionary()
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self.counters = _Counters()

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
        session = EdgeSession(
            CallSession(
                call_id,
                dialed,
                now,
                flow=self.flows.current,
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

    def session(self, call_id: str) -> EdgeSession | None:
        """The live session of ``call_id`` (while the controller holds it)."""
        return self._sessions.get(call_id)

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

    async def aclose(self) -> None:
        """Cancel the background hand-off tasks (referral bridges, goodbyes)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _spawn(self, coro: Any, name: str) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro, name=name)
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
            self._say_and_hang_up(channel_id, self._fallback_prompt, command.language),
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


# ============================================================================ wiring helpers
def flow_registry(
    path: Path | None, catalogue: Callable[[], PromptSource] | None
) -> Reloadable[Flow]:
    """The flow registry for ``path`` (default: the shipped flow), validated against the
    prompt catalogue ``catalogue()`` returns (read again on every reload)."""

    def load(p: Path) -> Flow:
        return load_flow_file(p, catalogue=catalogue() if catalogue is not None else None)

    return Reloadable("call flow", path or default_flow_path(), load)


def content_registry(
    path: Path, catalogue: Callable[[], PromptSource] | None
) -> Reloadable[Content]:
    def load(p: Path) -> Content:
        return load_content_file(p, catalogue=catalogue() if catalogue is not None else None)

    return Reloadable("self-service content", path, load)


def flows_router(edge: IvrEdge) -> APIRouter:
    """``POST /api/flows/reload`` (reload flow + content; 422 when one is refused) and
    ``GET /api/flows`` (what is loaded) for line311's own HTTP app."""
    router = APIRouter(prefix="/api/flows", tags=["flows"])

    @router.get("")
    async def current() -> dict[str, Any]:
        flow, content = edge.flows.current, edge.content.current
        return {
            "flow": {
                "name": flow.name,
                "version": flow.version,
                "fingerprint": flow.fingerprint[:12],
                "file": edge.flows.path.name,
                "last_error": edge.flows.last_error,
            },
            "content": {
                "version": content.version,
                "fingerprint": content.fingerprint[:12],
                "file": edge.content.path.name,
                "last_error": edge.content.last_error,
                "today": info_for(content, edge.today()),
            },
        }

    @router.post("/reload")
    async def reload() -> JSONResponse:
        report = await asyncio.to_thread(edge.reload)
        if report.ok:
            return JSONResponse(report.as_dict())
        body = {
            "error_id": "flow-reload-refused",
            "message": "a file did not validate; the previous version stays in use",
            "details": report.as_dict(),
        }
        return JSONResponse(body, status_code=422)

    return router


@contextlib.asynccontextmanager
async def running(edge: IvrEdge, watch_interval: float) -> AsyncIterator[IvrEdge]:
    """Run the file watcher (when ``watch_interval`` > 0) and close the edge on exit."""
    watcher = asyncio.create_task(edge.watch(watch_interval)) if watch_interval > 0 else None
    try:
        yield edge
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await edge.aclose()


def build_ivr_edge(
    settings: Any,
    ari: HandoffAri,
    crm: CrmLookupPort,
    *,
    sounds_uri_prefix: str,
    alerts_provider: AlertsProvider | None = None,
    clock: Clock | None = None,
) -> IvrEdge:
    """The `IvrEdge` for ``settings`` (a `line311.config.Settings`): the flow and content
    files validated against the prompt catalogue under ``sounds_dir``."""
    from line311.ivr.catalogue import load_catalogue

    def catalogue() -> PromptSource:
        return load_catalogue(Path(settings.sounds_dir) / "catalogue")

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
