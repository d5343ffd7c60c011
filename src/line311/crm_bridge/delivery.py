"""Delivering finished call records from the controller to the CRM bridge, never dropping one.

Theory of operation
-------------------
::

    submit(record) ──▶ RecordSpool (SQLite, durable) ──▶ run(): due records ──▶ transport
                                  ▲                         (a batch)       │
                                  └── retry later (backoff) ◀── unavailable ┤
                                      dead (kept, ERROR)    ◀── refused ────┤ per record
                                      deleted               ◀── stored ─────┘

`submit` queues the record for the spool and returns at once: a worker thread writes it
(with every other record submitted meanwhile, in one transaction), then the delivery loop is
woken; only a record in the spool is tried. No spool work (SQLite reads, writes, the WAL's
checkpoints) runs on the event loop, so a slow disk delays records, never a call's next
prompt. A record waits in memory only for that thread hop; one the spool cannot take (a full
disk) stays queued, is logged, and is written at the next try (every second). A transport failure
that may pass (bridge down, timeout, 5xx, database unavailable) schedules the record again
with capped exponential backoff and full jitter, for as long as it takes: there is no last
attempt. A refusal that cannot pass (4xx, a different record under the same ``call_id``) marks
it ``dead`` in the spool, kept for an operator (`RecordSpool.revive`).

Exactly once, end to end: the spool delivers *at least* once, and the bridge stores by
``call_id`` idempotently (a repeat of a stored record answers 200 and writes nothing, the
outbox row included), so each call is stored once.

Records travel in batches: after a submit wakes it, the loop lingers ``linger`` seconds
(0.1 s) so the calls ending meanwhile go together, then hands the transport up to ``batch``
due records at once. Each record still gets its own outcome (stored, or refused and kept
dead); only "unavailable" applies to the whole batch. One request and one spool transaction
per batch instead of per call: the record path was about a fifth of the controller's CPU
(docs/benchmarks.md, the controller profile).

Two transports: `HttpTransport` posts to a remote bridge (``POST /v1/calls/batch``, or
``POST /v1/calls`` for a batch of one); `InProcessTransport`, when the bridge runs in the
same process, validates each record with the bridge's own schema and stores them with
`CallRepository.add_calls`, in the same transaction as their outbox rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import ValidationError

from line311.crm_bridge.errors import CrmConflict, CrmRejected, CrmUnavailable
from line311.crm_bridge.spool import RecordSpool, SpooledRecord
from line311.db.calls import AddOutcome, Call, CallRepository
from line311.db.errors import DbError, RecordRefused

__all__ = [
    "HttpTransport",
    "InProcessTransport",
    "RecordDelivery",
    "RecordTransport",
    "Refusal",
    "RetryPolicy",
]

logger = logging.getLogger(__name__)

SPOOL_RETRY_SECONDS = 1.0
"""How soon records the spool could not take (or a failed pass) are tried again."""


Refusal = CrmRejected | CrmConflict
"""Why the bridge will never store a record (kept dead in the spool)."""


class RecordTransport(Protocol):
    """Stores records at the bridge: one outcome per record, in order — None when it is
    stored (or was already), the `Refusal` when it never will be. Raises `CrmUnavailable`
    when the batch may work later (then none need have been stored: a repeat is harmless)."""

    async def deliver_many(self, records: Sequence[Mapping[str, Any]]) -> list[Refusal | None]: ...


class _PostsCalls(Protocol):
    async def post_call(self, record: Mapping[str, Any]) -> None: ...

    async def post_calls(self, records: Sequence[Mapping[str, Any]]) -> list[Refusal | None]: ...


class HttpTransport:
    """To a remote bridge, through `CrmClient.post_calls` / `post_call` (give the client
    ``attempts=1``: the spool does the retrying)."""

    def __init__(self, client: _PostsCalls) -> None:
        self._client = client

    async def deliver_many(self, records: Sequence[Mapping[str, Any]]) -> list[Refusal | None]:
        if len(records) > 1:
            try:
                return await self._client.post_calls(records)
            except CrmRejected as exc:  # the whole batch (one invalid record): one by one
                logger.warning("CRM bridge refused a batch (%s); posting its records singly", exc)
        return [await self._one(record) for record in records]

    async def _one(self, record: Mapping[str, Any]) -> Refusal | None:
        try:
            await self._client.post_call(record)
        except (CrmRejected, CrmConflict) as exc:
            return exc
        return None


class InProcessTransport:
    """To the bridge running in this process: its schema, its repository, one transaction."""

    def __init__(self, repo: CallRepository) -> None:
        self._repo = repo

    async def deliver_many(self, records: Sequence[Mapping[str, Any]]) -> list[Refusal | None]:
        from line311.crm_bridge.schemas import CallRecord

        outcomes: list[Refusal | None] = [None] * len(records)
        calls: list[tuple[int, Call]] = []
        for i, record in enumerate(records):
            call_id = str(record.get("call_id", "?"))
            try:
                calls.append((i, Call.from_record(CallRecord.model_validate(record).to_record())))
            except ValidationError as exc:
                fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
                outcomes[i] = CrmRejected(f"call {call_id} is invalid: {', '.join(fields)}", 422)
        if not calls:
            return outcomes
        try:
            stored = await self._store([c for _, c in calls])
        except RecordRefused:  # some record's values: one by one, only that one is refused
            stored = []
            for _, call in calls:
                try:
                    stored += await self._store([call])
                except RecordRefused:  # its message may quote the values: not kept
                    refused = (
                        f"call {call.call_id}: the database refused a value (422 record-refused)"
                    )
                    stored.append(CrmRejected(refused, 422))
        for (i, _), outcome in zip(calls, stored, strict=True):
            outcomes[i] = outcome
        return outcomes

    async def _store(self, calls: list[Call]) -> list[Refusal | None]:
        """Store ``calls`` in one transaction. Raises `RecordRefused` when the database
        refuses a value, `CrmUnavailable` when it fails otherwise."""
        try:
            results = await asyncio.to_thread(self._repo.add_calls, calls)
        except RecordRefused:
            raise
        except DbError as exc:
            raise CrmUnavailable(f"storing {len(calls)} call(s): {exc}") from None
        return [
            CrmConflict(f"call {call.call_id} is stored with different content", 409)
            if result.outcome is AddOutcome.CONFLICT
            else None
            for call, result in zip(calls, results, strict=True)
        ]


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
        linger: float = 0.1,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not 1 <= batch <= 500:  # the bridge takes at most 500 records per request
            raise ValueError(f"batch must be 1..500, got {batch}")
        if linger < 0:
            raise ValueError(f"linger must be >= 0, got {linger}")
        self.spool = spool
        self._transport = transport
        self._policy = policy or RetryPolicy()
        self._clock = clock
        self._rng = rng or random.Random()
        self._batch = batch
        self._linger = linger
        self._sleep = sleep
        self._wake: asyncio.Event | None = None
        self._failing = False
        self._incoming: list[tuple[str, str, float]] = []  # (call id, payload, when)
        self._writer: asyncio.Task[None] | None = None
        self._spool_failing = False
        self.delivered = 0
        self.passes = 0  # of `run`'s loop, each ended waiting for the next

    @property
    def unspooled(self) -> int:
        """Records submitted and not in the spool yet (a thread hop; longer if it fails)."""
        return len(self._incoming)

    def submit(self, record: Mapping[str, Any]) -> None:
        """Queue ``record``: a worker thread writes it to the spool at once (see the module
        docstring), then the loop is woken. Call it from the event loop's thread. A record
        that is not JSON, or has no ``call_id``, raises here (``TypeError``, ``KeyError``)."""
        call_id, payload = self.spool.encode(record)
        self._incoming.append((call_id, payload, self._clock()))
        if not self._spool_failing:  # else tried again by the next pass (every second)
            self._start_writer()

    async def flush(self) -> None:
        """Return once every record submitted so far is in the spool (or failed to go in:
        then it stays queued for the next try)."""
        writer = self._writer
        if writer is not None and not writer.done():
            await asyncio.shield(writer)  # it writes what is submitted while it runs, too
            if self._spool_failing:
                return  # that was this flush's try
        if self._incoming:
            self._start_writer()
        if self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    def _start_writer(self) -> None:
        """One writer task at a time; it writes what is submitted while it runs, too."""
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(
                self._write_incoming(), name="call-record-spool"
            )

    async def _write_incoming(self) -> None:
        while self._incoming:
            batch, self._incoming = self._incoming, []
            try:
                added = await asyncio.to_thread(self.spool.put_many, batch)
            except Exception as exc:
                self._incoming[:0] = batch  # kept, in order, for the next try
                if not self._spool_failing:
                    logger.error(
                        "call records cannot be written to the spool (%s); %d kept in memory"
                        " and tried again every second",
                        exc,
                        len(self._incoming),
                    )
                self._spool_failing = True
                return
            if self._spool_failing:
                logger.info("call records are written to the spool again")
                self._spool_failing = False
            if added < len(batch):
                logger.debug("%d call record(s) were queued already", len(batch) - added)
            if self._wake is not None:
                self._wake.set()

    async def deliver_due(self) -> int:
        """One pass: write what was submitted to the spool, then deliver every record due
        now, ``batch`` at a time; how many were stored."""
        await self.flush()
        stored = 0
        while due := await asyncio.to_thread(self.spool.due, self._clock(), self._batch):
            done = await self._deliver_batch(due)
            stored += done
            if not done:
                break  # none stored: they are scheduled later; do not spin on this pass
        self.delivered += stored
        return stored

    async def _deliver_batch(self, due: Sequence[SpooledRecord]) -> int:
        try:
            outcomes = await self._transport.deliver_many([r.record for r in due])
            if len(outcomes) != len(due):
                raise RuntimeError(f"{len(outcomes)} outcomes for {len(due)} records")
        except CrmUnavailable as exc:
            await self._retry(due, str(exc))
            if not self._failing:
                logger.warning("CRM bridge unavailable; call records are kept and retried: %s", exc)
            self._failing = True
            return 0
        except Exception as exc:  # a bug in a transport: keep the records, try again later
            logger.exception("delivering %d call record(s) failed", len(due))
            await self._retry(due, f"{type(exc).__name__}: {exc}")
            return 0
        refused = [(r.call_id, str(o)) for r, o in zip(due, outcomes, strict=True) if o]
        stored = [r.call_id for r, o in zip(due, outcomes, strict=True) if o is None]
        await asyncio.to_thread(self.spool.settle, stored, refused)
        for call_id, error in refused:
            logger.error("CRM bridge refused call %s (kept dead in the spool): %s", call_id, error)
        if self._failing and stored:
            logger.info("CRM bridge reachable again; delivering the kept call records")
            self._failing = False
        return len(stored)

    async def _retry(self, due: Sequence[SpooledRecord], error: str) -> None:
        now = self._clock()
        retries = [(r.call_id, now + self._policy.delay(r.attempts, self._rng)) for r in due]
        await asyncio.to_thread(self.spool.retry_many, retries, error)

    async def run(self) -> None:
        """Deliver until cancelled: whatever is due, then sleep until the next is due or a
        record is submitted."""
        self._wake = asyncio.Event()
        pending = (await asyncio.to_thread(self.spool.counts))["pending"]
        if pending:
            logger.info("%d call record(s) left from before are being delivered", pending)
        while True:
            self._wake.clear()
            next_due: float | None = None
            try:
                await self.deliver_due()
                next_due = await asyncio.to_thread(self.spool.next_due)
            except Exception:
                logger.exception("call record delivery pass failed")
                next_due = self._clock() + SPOOL_RETRY_SECONDS
            if self._incoming:  # the spool refused them: try again in a while
                next_due = min(next_due or math.inf, self._clock() + SPOOL_RETRY_SECONDS)
            timeout = None if next_due is None else max(0.0, next_due - self._clock())
            self.passes += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):  # no task per turn, as wait_for makes
                    await self._wake.wait()
                if self._linger:  # woken by a submit: let the calls ending now join it
                    await self._sleep(self._linger)

    async def drain(self, within: float) -> int:
        """At shutdown: every record submitted into the spool, then a last try at what is
        due, for at most ``within`` seconds; what is left stays in the spool for the next
        start."""
        try:
            return await asyncio.wait_for(self.deliver_due(), within)
        except TimeoutError:
            return 0
        finally:
            if self._incoming:
                logger.error(
                    "%d call record(s) could not be written to the spool and are lost: %s",
                    len(self._incoming),
                    ", ".join(call_id for call_id, _, _ in self._incoming),
                )
