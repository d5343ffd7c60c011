"""Who may call the bridge: scoped API keys and per-key rate limits.

- Keys come from `line311.db.api_keys` (hashed), plus the bootstrap key ``crm_api_key`` from
  the settings, which acts as a ``controller`` key (the controller uses it).
- ``admin`` passes every ``/v1`` scope check; Open311 ``POST requests`` takes an
  ``open311_client`` key only.
- An ``agent_desktop`` key bound to a CCR (`Principal.desk_agent`) is confined to that CCR's
  calls and screen pops; the routes apply it (`desk_agent`, `refuse_other_agent`). An unbound
  desk key (made before keys were bound) is not confined; the bridge warns at start.
- Each key has a token bucket (in process): ``rate_per_second`` refill, ``burst`` capacity,
  per-key values or the scope's defaults. An empty bucket answers 429 with ``Retry-After``.
- Lookups are cached for `CACHE_SECONDS`, so a revoked key stops working within that time.
  The route dependency checks the bootstrap key and cached keys in the event loop; only a
  cache miss reads the database (in a worker thread).

Nothing here logs a token, nor a hash of one.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, params
from starlette.concurrency import run_in_threadpool

from line311.crm_bridge.errors import ApiError
from line311.crm_bridge.http import bearer_token, keys_match
from line311.db.api_keys import ApiKeyStore, Scope, hash_token

__all__ = [
    "DEFAULT_LIMITS",
    "Authenticator",
    "Principal",
    "RateLimiter",
    "TokenBucket",
    "refuse_other_agent",
]

CACHE_SECONDS = 5.0
CACHE_MAX = 10_000

DEFAULT_LIMITS: dict[Scope, tuple[float, int]] = {
    Scope.CONTROLLER: (5000.0, 10000),
    Scope.AGENT_DESKTOP: (20.0, 60),
    Scope.OPEN311_CLIENT: (5.0, 20),
    Scope.ADMIN: (20.0, 60),
}
"""(requests per second, burst) for keys that set neither."""


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: which key, which scope, which limits, which CCR."""

    key_id: str
    name: str
    scope: Scope
    rate_per_second: float
    burst: int
    agent_id: str | None = None

    @property
    def desk_agent(self) -> str | None:
        """The CCR whose calls alone this caller may see (a bound ``agent_desktop`` key), or
        None: not confined (controller, admin, an unbound desk key)."""
        return self.agent_id if self.scope is Scope.AGENT_DESKTOP else None


def refuse_other_agent(who: Principal, agent_id: str, what: str) -> None:
    """403 ``forbidden`` when ``who`` is confined to a CCR other than ``agent_id``.

    Decided from the key and the request alone, before anything is read, so the answer says
    nothing about what is stored.
    """
    mine = who.desk_agent
    if mine is not None and agent_id != mine:
        raise ApiError(
            403,
            "forbidden",
            f"a desk key reads only its own CCR's {what} (this key belongs to {mine!r})",
        )


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second; time is passed in."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: int, now: float) -> None:
        self.rate = rate
        self.capacity = float(capacity)
        self.tokens = float(capacity)
        self.stamp = now

    def take(self, now: float) -> float:
        """0.0 when a token was taken, else the seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate if self.rate > 0 else math.inf


class RateLimiter:
    """One bucket per key, thread-safe (sync routes run in a thread pool)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def check(self, who: Principal) -> float:
        """0.0 if the request may go on, else the seconds to wait."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(who.key_id)
            if bucket is None or (bucket.rate, bucket.capacity) != (
                who.rate_per_second,
                float(who.burst),
            ):
                bucket = self._buckets[who.key_id] = TokenBucket(
                    who.rate_per_second, who.burst, now
                )
            return bucket.take(now)


class Authenticator:
    """Resolves tokens to principals (bootstrap key, then stored keys, cached)."""

    def __init__(
        self,
        keys: ApiKeyStore,
        bootstrap_key: str,
        *,
        limiter: RateLimiter | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._keys = keys
        self._bootstrap = bootstrap_key
        self.limiter = limiter or RateLimiter(clock)
        self._clock = clock
        self._cache: dict[str, tuple[Principal | None, float]] = {}
        self._lock = threading.Lock()
        rate, burst = DEFAULT_LIMITS[Scope.CONTROLLER]
        self._bootstrap_principal = Principal(
            "bootstrap", "crm_api_key", Scope.CONTROLLER, rate, burst
        )

    def resolve(self, token: str) -> Principal | None:
        """The principal for ``token``, or None for an unknown or revoked key."""
        if keys_match(token, self._bootstrap):
            return self._bootstrap_principal
        if len(token) > 200:
            return None
        digest = hash_token(token)
        now = self._clock()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        key = self._keys.find(token)
        principal = None
        if key is not None:
            rate, burst = DEFAULT_LIMITS[key.scope]
            principal = Principal(
                key_id=str(key.id),
                name=key.name,
                scope=key.scope,
                rate_per_second=key.rate_per_second or rate,
                burst=key.burst or burst,
                agent_id=key.agent_id,
            )
        with self._lock:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[digest] = (principal, now + CACHE_SECONDS)
        return principal

    def cached(self, token: str) -> tuple[bool, Principal | None]:
        """``(True, principal or None)`` when ``token`` is decided without the database (the
        bootstrap key, an over-long token, a fresh cache entry); ``(False, None)`` when only
        `resolve` can tell."""
        if keys_match(token, self._bootstrap):
            return True, self._bootstrap_principal
        if len(token) > 200:
            return True, None
        with self._lock:
            cached = self._cache.get(hash_token(token))
        if cached is not None and cached[1] > self._clock():
            return True, cached[0]
        return False, None

    def authorise(self, token: str | None, scopes: tuple[Scope, ...], *, admin: bool) -> Principal:
        """The principal for ``token`` if its scope is allowed and its bucket has a token.

        Raises `ApiError` 401 (no or unknown key), 403 (wrong scope), 429 (rate limited).
        """
        return self.admit(self.resolve(token) if token else None, scopes, admin=admin)

    def admit(
        self, principal: Principal | None, scopes: tuple[Scope, ...], *, admin: bool
    ) -> Principal:
        """`authorise` for a principal already resolved (None: no or unknown key)."""
        if principal is None:
            raise ApiError(
                401,
                "unauthorized",
                "missing or wrong API key (Authorization: Bearer <key>)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        allowed = principal.scope in scopes or (admin and principal.scope is Scope.ADMIN)
        if not allowed:
            wanted = ", ".join(str(s) for s in scopes)
            raise ApiError(
                403,
                "forbidden",
                f"this key's scope ({principal.scope}) may not do this; needs: {wanted}",
            )
        wait = self.limiter.check(principal)
        if wait > 0:
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                429,
                "rate-limited",
                f"too many requests for this key; retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
        return principal

    def require(self, *scopes: Scope) -> Callable[..., Awaitable[Principal]]:
        """A FastAPI dependency admitting keys of ``scopes`` (and admin keys)."""

        async def dependency(
            authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
        ) -> Principal:
            # Async, so FastAPI does not hand every request to a worker thread: the bootstrap
            # key and cached keys are checked in the event loop; only a cache miss (a stored
            # key not seen for CACHE_SECONDS) reads the database, in a thread.
            token = bearer_token(authorization)
            if token is None:
                return self.admit(None, scopes, admin=True)
            known, principal = self.cached(token)
            if known:
                return self.admit(principal, scopes, admin=True)
            return await run_in_threadpool(self.authorise, token, scopes, admin=True)

        return dependency

    def depends(self, *scopes: Scope) -> params.Depends:
        """``Depends(self.require(*scopes))`` for a route's ``dependencies``."""
        dependency: params.Depends = Depends(self.require(*scopes))
        return dependency
