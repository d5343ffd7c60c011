"""Sign-in throttling: per account name and per client address, counted before hashing.

An attempt is recorded the moment it starts (before the slow password hash), so parallel
wrong passwords cannot all slip past the limit while the first ones are still being
checked; a successful attempt takes its own record back. A name with `per_name` recent
failures, or a client address with `per_client` of them, is refused (429) until the oldest
falls out of the `window`. Pure: the clock is passed in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Attempt", "LoginThrottle"]


@dataclass(slots=True)
class _Window:
    times: deque[float] = field(default_factory=deque)

    def prune(self, now: float, window: float) -> int:
        while self.times and now - self.times[0] >= window:
            self.times.popleft()
        return len(self.times)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One sign-in attempt in progress (give it back with `LoginThrottle.succeeded`)."""

    name: str
    client: str
    at: float


class LoginThrottle:
    """Counts sign-in attempts per name and per client; see the module doc."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        per_name: int = 5,
        per_client: int = 20,
        window: float = 60.0,
        max_keys: int = 10_000,
    ) -> None:
        self._clock = clock
        self.per_name = per_name
        self.per_client = per_client
        self.window = window
        self._max_keys = max_keys
        self._names: dict[str, _Window] = {}
        self._clients: dict[str, _Window] = {}

    def _count(self, table: dict[str, _Window], key: str, now: float) -> int:
        found = table.get(key)
        if found is None:
            return 0
        left = found.prune(now, self.window)
        if not left:
            del table[key]
        return left

    def begin(self, name: str, client: str) -> Attempt | None:
        """Record an attempt and return it, or None when ``name`` or ``client`` is locked."""
        now = self._clock()
        if (
            self._count(self._names, name, now) >= self.per_name
            or self._count(self._clients, client, now) >= self.per_client
        ):
            return None
        for table, key in ((self._names, name), (self._clients, client)):
            if key not in table and len(table) >= self._max_keys:
                self._evict(table, now)
            table.setdefault(key, _Window()).times.append(now)
        return Attempt(name, client, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The attempt's credentials were right: it no longer counts."""
        for table, key in ((self._names, attempt.name), (self._clients, attempt.client)):
            found = table.get(key)
            if found is not None and attempt.at in found.times:
                found.times.remove(attempt.at)

    def _evict(self, table: dict[str, _Window], now: float) -> None:
        for key in list(table):
            if not table[key].prune(now, self.window):
                del table[key]
        while len(table) >= self._max_keys:
            table.pop(next(iter(table)))
