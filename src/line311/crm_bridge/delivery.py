"""Delivering finished call records from the controller to the CRM bridge, never dropping one.

Theory of operation
-------------------
::

    submit(record) ──▶ RecordSpool (SQLite, durable) ──▶ run(): due records ──▶ transport
                                  ▲                                         │
                                  └── retry later (backoff) ◀── unavailable ┤
                                      dead (kept, ERROR)    ◀── refused ────┤
                                      deleted               ◀── stored ─────┘

`submit` writes the record to the spool first; only then is it tried. A transport failure
that may pass (bridge down, timeout, 5xx, database unavailable) schedules the record again
with capped exponential backoff and full jitter, for as long as it takes: there is no last
attempt. A refusal that cannot pass (4xx, a different record under the same ``call_id``) marks
it ``dead`` in the spool, kept for an operator (`RecordSpool.revive`).

Exactly once, end to end: the spool delivers *at least* once, and the bridge stores by
``call_id`` idempotently (a repeat of a stored record answers 200 and writes nothing, the
outbox row included), so each call is stored once.

Two transports: `HttpTransport` posts to a remote bridge; `InProcessTransport`, when the
bridge runs in the same process, validates the record with the bridge's own schema and stores
it with `CallRepository.add_call`, in the same transaction as its outbox row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from line311.crm_bridge.errors import CrmConflict, CrmRejected, CrmUnavailable
from line311.crm_bridge.spool import RecordSpool
from line311.db.calls import AddOutcome, Call, CallRepository
from line311.db.errors import DbError

__all__ = [
    "HttpTransport",
    "InProcessTransport",
    "RecordDelivery",
    "RecordTransport",
    "RetryPolicy",
]

logger = logging.getLogger(__name__)


class RecordTransport(Protocol):
    """Stores one record at the bridge. Raises `CrmUnavailable` when it may work later,
    `CrmRejected` / `CrmConflict` when it never will."""

    async def deliver(self, record: Mapping[str, Any]) -> None: ...


class _PostsCalls(Protocol):
    async def post_call(self, record: Mapping[str, Any]) -> None: ...


class HttpTransport:
    """To a remote bridge, through `CrmClient.post_call` (give it ``attempts=1``: the spool
    does the retrying)."""

    def __init__(self, client: _PostsCalls) -> None:
        self._client = client

    async def deliver(self, record: Mapping[str, Any]) -> None:
        await self._client.post_call(record)


class InProcessTransport:
    """To the bridge running in this process: its schema, its repository, its transaction."""

    def __init__(self, repo: CallRepository) -> None:
        self._repo = repo

    async def deliver(self, record: Mapping[str, Any]) -> None:
        from line311.crm_bridge.schemas import CallRecord

        call_id = str(record.get("call_id", "?"))
        try:
            call = Call.from_record(CallRecord.model_validate(record).to_record())
        except ValidationError as exc:
            fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
            raise CrmRejected(f"call {call_id} is invalid: {', '.join(fields)}", 422) from None
        try:
            result = await asyncio.to_thread(self._repo.add_call, call)
        except DbError as exc:
            raise CrmUnavailable(f"storing call {call_id}: {exc}") from None
        if result.outcome is AddOutcome.CONFLICT:
            raise CrmConflict(f"call {call_id} is stored with different content", 409)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Full-jitter exponential backoff: attempt n waits uniform(0, min(cap, base * 2**n)),
    at least ``floor``."""

    base: float = 0.5
    cap: float = 30.0
    floor: float = 0.05

    def delay(self, attempts: int, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * 2 ** min(attempts, 30))
        return max(self.floor, rng.uniform(0, ceiling))


class RecordDelivery:
    """The spool and its delivery loop. See the module docstring."""

    def __init__(
        self,
        spool: RecordSpool,
        transport: RecordTransport,
        *,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        batch: int = 100,
        concurrency: int = 8,
    ) -> None:
        self.spool = spool
        self._transport = transport
        self._policy = policy or RetryPolicy()
        self._clock = clock
        self._rng = rng or random.Random()
        self._batch = batch
        self._concurrency = concurrency
        self._wake: asyncio.Event | None = None
        self._failing = False
        self.delivered = 0

    def submit(self, record: Mapping[str, Any]) -> None:
        """Queue ``record`` durably (it is in the spool when this returns) and wake the loop."""
        if not self.spool.put(record, self._clock()):
            logger.debug("call %s is queued already", record.get("call_id"))
        if self._wake is not None:
            self._wake.set()

    async def deliver_due(self) -> int:
        """One pass: try every record due now (``batch`` at a time); how many were stored."""
        stored = 0
        gate = asyncio.Semaphore(self._concurrency)

        async def one(call_id: str, record: dict[str, Any], attempts: int) -> bool:
            async with gate:
                return await self._deliver_one(call_id, record, attempts)

        while due := self.spool.due(self._clock(), self._batch):
            results = await asyncio.gather(*(one(r.call_id, r.record, r.attempts) for r in due))
            stored += sum(results)
            if not any(results):
                break  # all failed: they are scheduled later; do not spin on this pass
        self.delivered += stored
        return stored

    async def _deliver_one(self, call_id: str, record: dict[str, Any], attempts: int) -> bool:
        try:
            await self._transport.deliver(record)
        except CrmUnavailable as exc:
            delay = self._policy.delay(attempts, self._rng)
            self.spool.retry_at(call_id, self._clock() + delay, str(exc))
            if not self._failing:
                logger.warning("CRM bridge unavailable; call records are kept and retried: %s", exc)
            self._failing = True
            return False
        except (CrmRejected, CrmConflict) as exc:
            self.spool.dead(call_id, str(exc))
            logger.error("CRM bridge refused call %s (kept as dead in the spool): %s", call_id, exc)
            return False
        except Exception as exc:  # a bug in a transport: keep the record, try again later
            logger.exception("delivering call %s failed", call_id)
            delay = self._policy.delay(attempts, self._rng)
            self.spool.retry_at(call_id, self._clock() + delay, f"{type(exc).__name__}: {exc}")
            return False
        self.spool.delivered(call_id)
        if self._failing:
            logger.info("CRM bridge reachable again; delivering the kept call records")
            self._failing = False
        return True

    async def run(self) -> None:
        """Deliver until cancelled: whatever is due, then sleep until the next is due or a
        record is submitted."""
        self._wake = asyncio.Event()
        pending = self.spool.counts()["pending"]
        if pending:
            logger.info("%d call record(s) left from before are being delivered", pending)
        while True:
            self._wake.clear()
            try:
                await self.deliver_due()
            except Exception:
                logger.exception("call record delivery pass failed")
            next_due = self.spool.next_due()
            timeout = None if next_due is None else max(0.0, next_due - self._clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def drain(self, within: float) -> int:
        """At shutdown: a last try at what is due, for at most ``within`` seconds; what is
        left stays in the spool for the next start."""
        try:
            return await asyncio.wait_for(self.deliver_due(), within)
        except TimeoutError:
            return 0
