"""Group commit for call-record intake (``POST /v1/calls``).

Theory of operation
-------------------
Committed one by one, every finished call would cost a transaction of its own (a pooled
connection, a round trip for the INSERT, one for the COMMIT and its WAL flush) and a worker
thread waiting on the database for the whole time. Under load, most of a request's latency
is spent queueing for those threads and for the GIL. `IntakeBatcher` lets concurrent
requests share one transaction instead::

    request ─▶ pending ─┐                                   ┌─▶ future: CREATED   → 201
    request ─▶ pending ─┼─▶ drain task ─▶ add_calls(batch) ─┼─▶ future: DUPLICATE → 200
    request ─▶ pending ─┘   (one worker thread, one commit) └─▶ future: CONFLICT  → 409

A request appends its record and awaits a future. If no drain is running on this event loop,
it starts one. The drain takes everything pending (at most `MAX_BATCH`), stores it with
`CallRepository.add_calls` in a worker thread, resolves every future with that record's own
result, and repeats until nothing is pending. While one batch is being written, the next one
builds up, so batches grow with the load. A lone request waits for nothing. Its future
resolves only after the commit, so a 201 always means stored (and queued in the outbox).

Unrelated requests never fail together. If a batch's transaction fails, its records are
stored again one by one, so each request gets its own answer (during a database outage every
one of them still gets its 503). The batcher keeps no state across event loops: tests and
the schemathesis client may run each request on a fresh loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool

from line311.db.calls import AddResult, Call, CallRepository
from line311.db.errors import DbError

__all__ = ["MAX_BATCH", "IntakeBatcher"]

logger = logging.getLogger(__name__)

MAX_BATCH = 256
"""Most records written in one group-commit transaction."""

_Waiter = tuple[Call, "asyncio.Future[AddResult]"]


class IntakeBatcher:
    """Stores call records through ``repo``, batching concurrent ones into one transaction."""

    def __init__(self, repo: CallRepository, *, max_batch: int = MAX_BATCH) -> None:
        self._repo = repo
        self._max = max_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: list[_Waiter] = []
        self._drain: asyncio.Task[None] | None = None

    async def add(self, call: Call) -> AddResult:
        """Store ``call`` (with whatever else is pending) and return its own result.

        Raises what storing it raised (`line311.db.errors.DbUnavailable` when the database
        fails).
        """
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._pending, self._drain = loop, [], None
        future: asyncio.Future[AddResult] = loop.create_future()
        self._pending.append((call, future))
        if self._drain is None:
            self._drain = loop.create_task(self._run())
        return await future

    async def _run(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max]
                del self._pending[: self._max]
                try:
                    outcomes: list[AddResult | Exception] = await run_in_threadpool(
                        self._store, [c for c, _ in batch]
                    )
                except asyncio.CancelledError:  # the loop is shutting down
                    for _, future in batch:
                        future.cancel()
                    raise
                except Exception as exc:  # a bug: each request answers 500 and logs it
                    outcomes = [exc] * len(batch)
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # the request went away; its record is stored
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self._drain = None

    def _store(self, calls: Sequence[Call]) -> list[AddResult | Exception]:
        """In a worker thread: one transaction for all, or one each if that fails."""
        try:
            return list(self._repo.add_calls(calls))
        except DbError as exc:
            if len(calls) == 1:
                return [exc]
            logger.warning(
                "intake batch of %s failed (%s); storing one by one", len(calls), type(exc).__name__
            )
        outcomes: list[AddResult | Exception] = []
        for call in calls:
            try:
                outcomes.append(self._repo.add_call(call))
            except DbError as exc:
                outcomes.append(exc)
        return outcomes
