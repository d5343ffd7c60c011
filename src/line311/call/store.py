"""Where the runner keeps each live call's state, so another controller process can carry
the call on (a port and its in-memory implementation; pure).

The runner saves one entry per call after every step and deletes it when the call ends::

    {"kind": "ivr",                      # the session kind (the runner's registry name)
     "state": session.to_dict(),         # the session's whole state
     "call": {"channel_id": ..., ...}}   # the runner's facts: dialed number, caller hash, times

Entries are JSON objects, so any key-value store can hold them (Redis: issue 12). The
in-memory store keeps them as JSON text: what it gives back is a fresh copy, and a state
that does not serialise fails at `save`, in the step that produced it, not at a restart.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["InMemorySessionStore", "SessionStore"]


class SessionStore(Protocol):
    """The live calls' states, by call id (the caller's channel id)."""

    async def save(self, call_id: str, entry: Mapping[str, Any]) -> None:
        """Replace the entry of ``call_id`` (a JSON object)."""
        ...

    async def load(self, call_id: str) -> dict[str, Any] | None:
        """The entry of ``call_id``; None when there is none."""
        ...

    async def delete(self, call_id: str) -> None:
        """Forget ``call_id`` (no error when it is unknown)."""
        ...

    async def call_ids(self) -> list[str]:
        """Every call id with an entry."""
        ...

    async def close(self) -> None:
        """Write what the store still holds (a written-behind store); at the process's end."""
        ...


class InMemorySessionStore:
    """A `SessionStore` in this process's memory (tests, a single controller, the simulator).

    Two runners given the same instance share it, as two processes would share Redis.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, str] = {}

    async def save(self, call_id: str, entry: Mapping[str, Any]) -> None:
        self._entries[call_id] = json.dumps(entry, separators=(",", ":"))

    async def load(self, call_id: str) -> dict[str, Any] | None:
        text = self._entries.get(call_id)
        if text is None:
            return None
        data: dict[str, Any] = json.loads(text)
        return data

    async def delete(self, call_id: str) -> None:
        self._entries.pop(call_id, None)

    async def call_ids(self) -> list[str]:
        return list(self._entries)

    async def close(self) -> None:
        """Nothing to write: every entry is in place already."""

    def __len__(self) -> int:
        return len(self._entries)
