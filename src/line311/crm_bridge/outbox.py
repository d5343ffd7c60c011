"""Webhook delivery of the outbox to the external CRM (at-least-once, signed, idempotent).

Theory of operation
-------------------
`OutboxWorker.deliver_once` claims a batch of due records (`OutboxStore.claim`: leased, so no
other worker sends them meanwhile), POSTs them concurrently, then settles each one:

- 2xx: delivered.
- 408, 425, 429, 5xx, a timeout or a connection error: retried after an exponential backoff
  with jitter (``base * 2**(attempt-1)``, capped, drawn in its upper half; a 429/503's
  ``Retry-After`` is honoured), dead after ``max_attempts`` attempts.
- any other 4xx: the receiver refuses the record itself; retrying cannot help, so it is
  dead at once (fix the cause, then ``line311 outbox replay``).

Every POST carries ``Idempotency-Key`` (stable for the record, the same on every attempt):
at-least-once delivery plus a receiver that ignores repeated keys is exactly-once. The body
is the same bytes on every attempt; ``X-Line311-Signature: v1=<hex>`` is
HMAC-SHA256(secret, ``<X-Line311-Timestamp>.<body>``) (see `verify_signature`).

A worker cancelled mid-delivery gives its unsettled records back (`OutboxStore.release`);
a worker killed outright leaves them leased until the lease expires. Either way they are
sent again, never lost. The database work runs in threads (``asyncio.to_thread``) so the
event loop that serves the API never blocks on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from line311.db.outbox import OutboxItem, OutboxStore

__all__ = [
    "DeliveryPolicy",
    "DeliveryReport",
    "OutboxWorker",
    "backoff_delay",
    "sign",
    "verify_signature",
    "webhook_body",
]

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Line311-Signature"
TIMESTAMP_HEADER = "X-Line311-Timestamp"
RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    """How the worker sends: attempts, backoff, timeouts, batch size, polling."""

    max_attempts: int = 8
    base_delay: float = 2.0
    """Seconds before the first retry; doubles with each attempt."""
    max_delay: float = 600.0
    timeout: float = 10.0
    """Per POST (connect, read, write, pool each)."""
    batch: int = 32
    """Records claimed at once and sent concurrently."""
    idle_poll: float = 0.5
    """Seconds between looks at an empty outbox."""

    @property
    def lease(self) -> timedelta:
        """A claim outlives the slowest batch (every POST bounded by ``timeout``) by far."""
        return timedelta(seconds=4 * self.timeout + 5)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value: ``v1=`` + hex HMAC-SHA256 of ``timestamp.body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float | None = None,
    tolerance: float = 300.0,
) -> bool:
    """What a receiver checks: the signature matches and the timestamp is recent."""
    try:
        sent = float(timestamp)
    except ValueError:
        return False
    current = time.time() if now is None else now
    if abs(current - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def webhook_body(item: OutboxItem) -> bytes:
    """The JSON body for ``item``: the same bytes on every attempt."""
    document = {
        "idempotency_key": item.idempotency_key,
        "type": item.kind,
        "created_at": item.created_at.isoformat(),
        "data": item.payload,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def backoff_delay(attempt: int, policy: DeliveryPolicy, rng: random.Random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based), with jitter."""
    ceiling = min(policy.max_delay, policy.base_delay * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class _Outcome:
    item: OutboxItem
    ok: bool
    error: str = ""
    permanent: bool = False
    retry_after: float | None = None


class OutboxWorker:
    """Delivers outbox records to ``url``; one per process is enough, more are safe.

    ``observer`` is told every settled batch's `DeliveryReport` (the bridge's metrics count
    deliveries by outcome from it); a failing observer is logged and never stops delivery.
    """

    def __init__(
        self,
        store: OutboxStore,
        url: str,
        secret: str,
        policy: DeliveryPolicy | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
        observer: Callable[[DeliveryReport], None] | None = None,
    ) -> None:
        self._store = store
        self._observer = observer
        self._url = url
        self._secret = secret
        self.policy = policy or DeliveryPolicy()
        self._client = client
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look at the outbox now instead of at the next poll (new records were written)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Deliver until ``stop`` is set or the task is cancelled."""
        stop = stop or asyncio.Event()
        logger.info("outbox delivery to %s started", _safe(self._url))
        async with self._http() as client:
            while not stop.is_set():
                try:
                    report = await self._deliver(client)
                except Exception:  # a database hiccup must not end delivery for good
                    logger.exception("outbox delivery round failed; retrying")
                    await _sleep_or(stop, self._wake, 5.0)
                    continue
                if report.claimed == 0:
                    self._wake.clear()
                    await _sleep_or(stop, self._wake, self.policy.idle_poll)
        logger.info("outbox delivery stopped")

    async def deliver_once(self) -> DeliveryReport:
        """One batch: claim what is due, send it, settle it."""
        async with self._http() as client:
            return await self._deliver(client)

    async def drain(self) -> DeliveryReport:
        """Batches until nothing is due now (``line311 outbox deliver --once``)."""
        total = DeliveryReport()
        async with self._http() as client:
            while True:
                report = await self._deliver(client)
                total = DeliveryReport(
                    total.claimed + report.claimed,
                    total.delivered + report.delivered,
                    total.retried + report.retried,
                    total.dead + report.dead,
                )
                if report.claimed == 0:
                    return total

    @contextlib.asynccontextmanager
    async def _http(self) -> Any:
        if self._client is not None:
            yield self._client
            return
        timeout = httpx.Timeout(self.policy.timeout)
        limits = httpx.Limits(max_connections=self.policy.batch)
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
            yield client

    async def _deliver(self, client: httpx.AsyncClient) -> DeliveryReport:
        items = await asyncio.to_thread(self._store.claim, self.policy.batch, self.policy.lease)
        if not items:
            return DeliveryReport()
        unsettled = {item.id for item in items}
        try:
            outcomes = await asyncio.gather(*(self._post(client, item) for item in items))
            report = await asyncio.to_thread(self._settle, outcomes)
            unsettled.clear()
        except asyncio.CancelledError:
            # Give them back now rather than at lease expiry; they will be sent again.
            with contextlib.suppress(Exception):
                self._store.release(sorted(unsettled))
            raise
        if self._observer is not None:
            try:
                self._observer(report)
            except Exception:
                logger.exception("outbox delivery observer failed")
        return report

    async def _post(self, client: httpx.AsyncClient, item: OutboxItem) -> _Outcome:
        body = webhook_body(item)
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": item.idempotency_key,
            "X-Line311-Event": item.kind,
            "X-Line311-Attempt": str(item.attempts),
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
        }
        try:
            response = await asyncio.wait_for(
                client.post(self._url, content=body, headers=headers), self.policy.timeout * 2
            )
        except (httpx.HTTPError, TimeoutError) as exc:
            return _Outcome(item, ok=False, error=f"{type(exc).__name__}: {exc}"[:200])
        status = response.status_code
        if 200 <= status < 300:
            return _Outcome(item, ok=True)
        permanent = 400 <= status < 500 and status not in RETRYABLE_4XX
        return _Outcome(
            item,
            ok=False,
            error=f"HTTP {status}",
            permanent=permanent,
            retry_after=_retry_after(response) if status in (429, 503) else None,
        )

    def _settle(self, outcomes: list[_Outcome]) -> DeliveryReport:
        delivered = [o.item.id for o in outcomes if o.ok]
        self._store.mark_delivered(delivered)
        retried = dead = 0
        now = self._store.now()
        for o in outcomes:
            if o.ok:
                continue
            retry_at = self._retry_at(o, now)
            if retry_at is None:
                dead += 1
                logger.error(
                    "outbox record %s (%s) dead after %s attempts: %s",
                    o.item.id,
                    o.item.kind,
                    o.item.attempts,
                    o.error,
                )
            else:
                retried += 1
                logger.warning(
                    "outbox record %s (%s) attempt %s failed (%s); retry at %s",
                    o.item.id,
                    o.item.kind,
                    o.item.attempts,
                    o.error,
                    retry_at.isoformat(timespec="seconds"),
                )
            self._store.mark_failed(o.item.id, o.error, retry_at)
        return DeliveryReport(len(outcomes), len(delivered), retried, dead)

    def _retry_at(self, outcome: _Outcome, now: datetime) -> datetime | None:
        if outcome.permanent or outcome.item.attempts >= self.policy.max_attempts:
            return None
        delay = backoff_delay(outcome.item.attempts, self.policy, self._rng)
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, self.policy.max_delay))
        return now + timedelta(seconds=delay)


async def _sleep_or(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()


def _safe(url: str) -> str:
    """The URL without credentials or query (which may hold a token)."""
    parts = httpx.URL(url)
    return str(parts.copy_with(userinfo=b"", query=None, fragment=None))
