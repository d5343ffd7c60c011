"""Sign-in throttling: per (account name, client address), per client address, and a much
higher limit per account name, counted before hashing.

An attempt is recorded the moment it starts (before the slow password hash), so parallel
wrong passwords cannot all slip past the limit while the first ones are still being
checked; a successful attempt takes its own record back. Three limits, each over its
recent failures:

* one client guessing one name: `per_pair` in `window` (5 a minute) -- the usual lock;
* one client guessing many names: `per_client` in `window` (20 a minute);
* many clients guessing one name: `per_name` in `name_window` (100 in 15 minutes), and
  only for clients that have not signed in to that name before (`known_seconds`, kept in
  memory since the process started).

So failures from one address never lock a name for its owner at another address (the
first two limits are per address), and a distributed guess at one name is held to
`per_name` tries per `name_window` without locking its owner out where they usually sign
in. Pure: the clock is passed in. The client address is the request's (uvicorn takes it
from X-Forwarded-For only from its trusted proxies, by default loopback).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal, TypeVar

__all__ = ["Attempt", "LoginThrottle", "Refusal"]

_K = TypeVar("_K")
_DEFAULT_KNOWN_SECONDS: Final = 30 * 86400.0


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


@dataclass(frozen=True, slots=True)
class Refusal:
    """An attempt not allowed to start: which limit (``client``: this address, for this
    name or for all; ``account``: the name, from many addresses) and for how long."""

    limit: Literal["client", "account"]
    retry_after: float


class LoginThrottle:
    """Counts sign-in attempts; see the module doc."""

    def __init__(
        self,
        clock: Callable[[], float],
        *,
        per_pair: int = 5,
        per_client: int = 20,
        window: float = 60.0,
        per_name: int = 100,
        name_window: float = 900.0,
        known_seconds: float = _DEFAULT_KNOWN_SECONDS,
        max_keys: int = 10_000,
    ) -> None:
        self._clock = clock
        self.per_pair = per_pair
        self.per_client = per_client
        self.window = window
        self.per_name = per_name
        self.name_window = name_window
        self.known_seconds = known_seconds
        self._max_keys = max_keys
        self._pairs: dict[tuple[str, str], _Window] = {}
        self._clients: dict[str, _Window] = {}
        self._names: dict[str, _Window] = {}
        self._known: dict[tuple[str, str], float] = {}  # (name, client) -> last success

    def _count(self, table: dict[_K, _Window], key: _K, now: float, window: float) -> int:
        found = table.get(key)
        if found is None:
            return 0
        left = found.prune(now, window)
        if not left:
            del table[key]
        return left

    def _wait(self, table: dict[_K, _Window], key: _K, now: float, window: float) -> float:
        return max(0.0, table[key].times[0] + window - now)

    def known(self, name: str, client: str) -> bool:
        """Whether ``client`` has signed in to ``name`` within ``known_seconds``."""
        at = self._known.get((name, client))
        return at is not None and self._clock() - at < self.known_seconds

    def begin(self, name: str, client: str) -> Attempt | Refusal:
        """Record an attempt and return it, or the `Refusal` of the limit it is over."""
        now = self._clock()
        pair = (name, client)
        if self._count(self._pairs, pair, now, self.window) >= self.per_pair:
            return Refusal("client", self._wait(self._pairs, pair, now, self.window))
        if self._count(self._clients, client, now, self.window) >= self.per_client:
            return Refusal("client", self._wait(self._clients, client, now, self.window))
        if self._count(
            self._names, name, now, self.name_window
        ) >= self.per_name and not self.known(name, client):
            return Refusal("account", self._wait(self._names, name, now, self.name_window))
        self._record(self._pairs, pair, now, self.window)
        self._record(self._clients, client, now, self.window)
        self._record(self._names, name, now, self.name_window)
        return Attempt(name, client, now)

    def succeeded(self, attempt: Attempt) -> None:
        """The attempt's credentials were right: it no longer counts, and its client is
        known to its name from now on."""
        _give_back(self._pairs, (attempt.name, attempt.client), attempt.at)
        _give_back(self._clients, attempt.client, attempt.at)
        _give_back(self._names, attempt.name, attempt.at)
        pair = (attempt.name, attempt.client)
        if pair not in self._known and len(self._known) >= self._max_keys:
            now = self._clock()
            for key, at in list(self._known.items()):
                if now - at >= self.known_seconds:
                    del self._known[key]
            while len(self._known) >= self._max_keys:
                self._known.pop(next(iter(self._known)))
        self._known.pop(pair, None)
        self._known[pair] = self._clock()  # newest last: the first ones go first

    def _record(self, table: dict[_K, _Window], key: _K, now: float, window: float) -> None:
        if key not in table and len(table) >= self._max_keys:
            for old in list(table):
                if not table[old].prune(now, window):
                    del table[old]
            while len(table) >= self._max_keys:
                table.pop(next(iter(table)))
        table.setdefault(key, _Window()).times.append(now)


def _give_back(table: dict[_K, _Window], key: _K, at: float) -> None:
    found = table.get(key)
    if found is not None and at in found.times:
        found.times.remove(at)
