"""Typed, read-only views of the ARI resources line311 uses.

Each model is a frozen slotted dataclass built by ``from_json`` from Asterisk's JSON. Parsing
is defensive: a field that is missing or of the wrong type gets a neutral default, except the
identifier, without which the resource is useless (`AriProtocolError`). Unknown fields are
ignored, so a newer Asterisk adding fields never breaks us.

A channel's caller number is kept (the controller must hash it) but left out of ``repr`` so
that logging a `Channel` can never leak it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from line311.ari.errors import AriProtocolError

__all__ = [
    "AsteriskInfo",
    "Bridge",
    "Channel",
    "LiveRecording",
    "Playback",
    "StoredRecording",
    "parse_ari_time",
    "target_of",
]


def _str(data: Mapping[str, Any], key: str, default: str = "") -> str:
    value = data.get(key)
    return value if isinstance(value, str) else default


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def _int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if isinstance(value, bool):
        return None
    return value if isinstance(value, int) else None


def _obj(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _require(data: Any, key: str, kind: str) -> str:
    if not isinstance(data, Mapping):
        raise AriProtocolError(f"ARI {kind}: expected an object, got {type(data).__name__}")
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise AriProtocolError(f"ARI {kind}: missing or invalid {key!r}")
    return value


def parse_ari_time(value: Any) -> datetime | None:
    """Parse Asterisk's timestamps (``2024-05-01T12:00:00.123+0000``); None if unparsable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def target_of(uri: str) -> tuple[str, str] | None:
    """Split a ``target_uri`` such as ``channel:123.4`` into ``("channel", "123.4")``."""
    kind, sep, ident = uri.partition(":")
    if not sep or not kind or not ident:
        return None
    return kind, ident


@dataclass(frozen=True, slots=True)
class Channel:
    """An Asterisk channel (one leg of a call)."""

    id: str
    name: str = ""
    state: str = ""
    caller_number: str = field(default="", repr=False)
    dialplan_context: str = ""
    dialplan_exten: str = ""
    dialplan_app: str = ""
    dialplan_app_data: str = ""
    language: str = ""
    creationtime: datetime | None = None

    @classmethod
    def from_json(cls, data: Any) -> Channel:
        ident = _require(data, "id", "channel")
        caller = _obj(data, "caller")
        dialplan = _obj(data, "dialplan")
        return cls(
            id=ident,
            name=_str(data, "name"),
            state=_str(data, "state"),
            caller_number=_str(caller, "number"),
            dialplan_context=_str(dialplan, "context"),
            dialplan_exten=_str(dialplan, "exten"),
            dialplan_app=_str(dialplan, "app_name"),
            dialplan_app_data=_str(dialplan, "app_data"),
            language=_str(data, "language"),
            creationtime=parse_ari_time(data.get("creationtime")),
        )

    @property
    def broadcast(self) -> bool:
        """True when the channel entered Stasis through ``StasisBroadcast`` (IVR workers)."""
        return self.dialplan_app.lower() == "stasisbroadcast"

    def stasis_args(self, app: str) -> tuple[str, ...] | None:
        """The Stasis arguments if this channel sits in Stasis application ``app``, else None.

        ``Stasis(app,a,b)`` gives ``(a, b)``. ``StasisBroadcast(timeout,filter,a:b)`` gives
        ``(a, b)`` when ``filter`` (a regular expression) matches ``app``: any app it was
        offered to may hold it, so a caller must also know whether it claimed it. (Asterisk
        keeps the dialplan application after a move: a moved channel still shows it.)
        """
        app_name = self.dialplan_app.lower()
        parts = [p.strip() for p in self.dialplan_app_data.split(",")]
        if app_name == "stasis":
            if not parts or parts[0] != app:
                return None
            return tuple(parts[1:])
        if app_name != "stasisbroadcast":
            return None
        pattern = parts[1] if len(parts) > 1 else ""
        try:
            if pattern and re.search(pattern, app) is None:
                return None
        except re.error:
            return None
        return tuple(parts[2].split(":")) if len(parts) > 2 and parts[2] else ()


@dataclass(frozen=True, slots=True)
class Bridge:
    """A bridge joining channels."""

    id: str
    technology: str = ""
    bridge_type: str = ""
    bridge_class: str = ""
    channels: tuple[str, ...] = ()
    creationtime: datetime | None = None

    @classmethod
    def from_json(cls, data: Any) -> Bridge:
        ident = _require(data, "id", "bridge")
        channels = data.get("channels")
        return cls(
            id=ident,
            technology=_str(data, "technology"),
            bridge_type=_str(data, "bridge_type"),
            bridge_class=_str(data, "bridge_class"),
            channels=tuple(c for c in channels if isinstance(c, str))
            if isinstance(channels, list)
            else (),
            creationtime=parse_ari_time(data.get("creationtime")),
        )


@dataclass(frozen=True, slots=True)
class Playback:
    """Media being played to a channel or bridge. ``state``: queued, playing, done, failed..."""

    id: str
    media_uri: str = ""
    target_uri: str = ""
    state: str = ""
    language: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> Playback:
        ident = _require(data, "id", "playback")
        return cls(
            id=ident,
            media_uri=_str(data, "media_uri"),
            target_uri=_str(data, "target_uri"),
            state=_str(data, "state"),
            language=_opt_str(data, "language"),
        )


@dataclass(frozen=True, slots=True)
class LiveRecording:
    """A recording in progress (or just finished). ``state``: queued, recording, done, failed..."""

    name: str
    format: str = ""
    state: str = ""
    target_uri: str = ""
    duration: int | None = None
    talking_duration: int | None = None
    silence_duration: int | None = None
    cause: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> LiveRecording:
        name = _require(data, "name", "recording")
        return cls(
            name=name,
            format=_str(data, "format"),
            state=_str(data, "state"),
            target_uri=_str(data, "target_uri"),
            duration=_int(data, "duration"),
            talking_duration=_int(data, "talking_duration"),
            silence_duration=_int(data, "silence_duration"),
            cause=_opt_str(data, "cause"),
        )


@dataclass(frozen=True, slots=True)
class StoredRecording:
    """A finished recording stored by Asterisk."""

    name: str
    format: str = ""

    @classmethod
    def from_json(cls, data: Any) -> StoredRecording:
        return cls(name=_require(data, "name", "stored recording"), format=_str(data, "format"))


@dataclass(frozen=True, slots=True)
class AsteriskInfo:
    """What ``GET /asterisk/info`` tells about the server."""

    version: str = ""
    entity_id: str = ""
    startup_time: datetime | None = None
    last_reload_time: datetime | None = None

    @classmethod
    def from_json(cls, data: Any) -> AsteriskInfo:
        if not isinstance(data, Mapping):
            raise AriProtocolError(f"ARI asterisk info: expected an object, got {type(data)}")
        system = _obj(data, "system")
        status = _obj(data, "status")
        return cls(
            version=_str(system, "version"),
            entity_id=_str(system, "entity_id"),
            startup_time=parse_ari_time(status.get("startup_time")),
            last_reload_time=parse_ari_time(status.get("last_reload_time")),
        )
