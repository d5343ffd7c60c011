"""Fakes for the IVR edge tests: an ARI with real waiter semantics, a CRM, and `make_edge`."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any

from line311.ari.controller import FunctionClock
from line311.ari.ivr_edge import (
    IvrEdge,
    content_registry,
    flow_registry,
)
from line311.config import REPO_ROOT
from line311.ivr.catalogue import load_catalogue
from line311.ivr.flow import default_flow_path

PREFIX = "sound:/var/lib/line311/sounds"
CATALOGUE = load_catalogue(REPO_ROOT / "content" / "catalogue")

CONTENT = """
version: 3
holidays:
  - {date: 2026-07-03, name: independence_day_observed}
  - {date: 2026-09-07, name: labor_day}
alternate_side_parking:
  weekdays: [sunday]
  holidays: true
  dates:
    - {date: 2026-06-10, until: 2026-06-11, reason: snow, say: [info_unavailable]}
collection:
  holidays: true
schools:
  weekdays: [saturday, sunday]
  dates:
    - {date: 2026-06-12, reason: chancellors_day}
"""


# ---------------------------------------------------------------------------- fakes
class FakeAri:
    """Records REST calls; `emit` resolves `expect` waiters like the real client does."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.waiters: list[tuple[frozenset[str], Callable[[dict[str, Any]], bool], Any]] = []
        self.fail: dict[str, Exception] = {}
        self.on_originate: Callable[[str], None] | None = None
        self.on_play: Callable[[str, str], None] | None = None

    @contextlib.asynccontextmanager
    async def expect(
        self,
        type: str | Iterable[str],  # noqa: A002
        *,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> AsyncIterator[asyncio.Future[dict[str, Any]]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        waiter = (frozenset([type] if isinstance(type, str) else type), predicate, future)
        self.waiters.append(waiter)  # type: ignore[arg-type]
        try:
            yield future
        finally:
            self.waiters.remove(waiter)  # type: ignore[arg-type]
            future.cancel()

    def emit(self, event: dict[str, Any]) -> None:
        for types, predicate, future in list(self.waiters):
            if event["type"] in types and not future.done() and predicate(event):
                future.set_result(event)

    def _do(self, *call: Any) -> None:
        self.calls.append(call)
        exc = self.fail.get(call[0])
        if exc is not None:
            raise exc

    async def originate(self, endpoint: str, channel_id: str, **kw: Any) -> None:
        self._do("originate", endpoint, channel_id, kw.get("app_args"))
        if self.on_originate is not None:
            asyncio.get_running_loop().call_soon(self.on_originate, channel_id)

    async def play(self, channel_id: str, media: Any, playback_id: str, lang: Any = None) -> None:
        self._do("play", channel_id, media)
        if self.on_play is not None:
            asyncio.get_running_loop().call_soon(self.on_play, channel_id, playback_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        self._do("hangup", channel_id)

    async def ring(self, channel_id: str) -> None:
        self._do("ring", channel_id)

    async def ring_stop(self, channel_id: str) -> None:
        self._do("ring_stop", channel_id)

    async def create_bridge(self, bridge_id: str, type: str = "mixing") -> None:  # noqa: A002
        self._do("create_bridge", bridge_id, type)

    async def add_channel(self, bridge_id: str, channel_id: Any) -> None:
        self._do("add_channel", bridge_id, list(channel_id))

    async def destroy_bridge(self, bridge_id: str) -> None:
        self._do("destroy_bridge", bridge_id)

    def names(self) -> list[str]:
        return [c[0] for c in self.calls]


class FakeCrm:
    def __init__(self, answer: Any = None, delay: float = 0.0) -> None:
        self.answer = answer
        self.delay = delay
        self.asked: list[str] = []

    async def lookup_sr(self, sr_number: str) -> dict[str, Any] | None:
        self.asked.append(sr_number)
        if self.delay:
            await asyncio.sleep(self.delay)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer  # type: ignore[no-any-return]


def channel(kind: str, cid: str, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "channel": {"id": cid}, **extra}


def make_edge(
    tmp_path: Path,
    *,
    ari: FakeAri | None = None,
    crm: FakeCrm | None = None,
    content: str = CONTENT,
    wall: float = dt.datetime(2026, 6, 10, 15, 0, tzinfo=dt.UTC).timestamp(),
    **kw: Any,
) -> IvrEdge:
    flow_file = tmp_path / "flow.yaml"
    flow_file.write_text(default_flow_path().read_text())
    content_file = tmp_path / "content.yaml"
    content_file.write_text(content)
    return IvrEdge(
        flows=flow_registry(flow_file, lambda: CATALOGUE),
        content=content_registry(content_file, lambda: CATALOGUE),
        ari=ari or FakeAri(),
        crm=crm or FakeCrm(),
        sounds_uri_prefix=PREFIX,
        clock=FunctionClock(lambda: wall),
        **kw,
    )
