"""Kamailio's JSON-RPC over HTTP, as the controller uses it: one client for every read.

Kamailio answers JSON-RPC (its ``jsonrpcs`` module on ``xhttp``) on ``kamailio_rpc_port``,
only to a client on its own host or in ``kamailio_rpc_allow`` that sends the bearer token
``kamailio_rpc_token`` (``kamailio_conf/kamailio.cfg``, ``event_route[xhttp:request]``). The
controller reads two things there, each on its own period, through one `KamailioRpc`: the
CCR phones' registrations (`line311.kamailio.registrations`) and the edge's counters
(`line311.kamailio.edge_stats`). Each tells an outage of its reads once (`ReadOutage`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from line311.kamailio.errors import KamailioError

__all__ = ["REFUSED", "KamailioRpc", "KamailioRpcError", "ReadOutage", "RpcCaller"]

logger = logging.getLogger(__name__)


class KamailioRpcError(KamailioError):
    """Kamailio's RPC did not answer, or answered with an error or something unreadable."""


REFUSED = {
    401: " (Kamailio refused the token: set the same kamailio_rpc_token for both)",
    403: " (Kamailio does not take RPC from this host: add it to kamailio_rpc_allow)",
}


class KamailioRpc:
    """Kamailio's JSON-RPC over HTTP (its ``jsonrpcs`` module on ``xhttp``), at ``url``
    (``http://host:port/RPC``), with the bearer ``token`` it requires (`kamailio_rpc_token`).

    ``fallbacks``: the RPC of the other Kamailios of a pair (`kamailio_peers`), which hold the
    same location table. A call goes to the Kamailio that answered last; when that one does
    not answer at all (refused, timed out), to the next, and the one that answers is kept.
    An answer, even an error or a refusal (401, 403), is that Kamailio's word: not passed on
    to another."""

    def __init__(
        self,
        url: str,
        *,
        token: str,
        fallbacks: Sequence[str] = (),
        timeout: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.urls = (url, *fallbacks)
        self._at = 0
        self._http = httpx.AsyncClient(
            timeout=timeout, headers={"Authorization": f"Bearer {token}"}, transport=transport
        )
        self._id = 0

    @property
    def url(self) -> str:
        """The Kamailio calls go to now."""
        return self.urls[self._at]

    async def call(self, method: str, *params: str) -> Any:
        """The ``result`` of ``method``; KamailioRpcError for anything else."""
        self._id += 1
        body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": self._id}
        response = await self._post(method, body)
        try:
            answer = response.json()
        except ValueError:
            answer = None
        error = answer.get("error") if isinstance(answer, dict) else None
        if error is not None:  # jsonrpcs answers an error with an HTTP error status too
            message = error.get("message") if isinstance(error, dict) else error
            raise KamailioRpcError(f"{method}: {message}")
        if response.status_code != 200:
            why = REFUSED.get(response.status_code, "")
            raise KamailioRpcError(f"{method}: HTTP {response.status_code}{why}")
        if not isinstance(answer, dict):
            raise KamailioRpcError(f"{method}: not a JSON-RPC answer")
        if "result" not in answer:
            raise KamailioRpcError(f"{method}: no result")
        return answer["result"]

    async def _post(self, method: str, body: dict[str, Any]) -> httpx.Response:
        """POST ``body`` to the Kamailio that answered last, else to each of the others in
        turn; KamailioRpcError when none answers."""
        failures: list[tuple[str, str]] = []  # (url, what went wrong)
        for step in range(len(self.urls)):
            at = (self._at + step) % len(self.urls)
            try:
                response = await self._http.post(self.urls[at], json=body)
            except httpx.HTTPError as exc:
                failures.append((self.urls[at], f"{type(exc).__name__}: {exc}"))
                continue
            if at != self._at:
                logger.warning(
                    "Kamailio RPC: %s does not answer, %s does: reading there",
                    self.urls[self._at], self.urls[at],
                )  # fmt: skip
                self._at = at
            return response
        if len(failures) == 1:
            raise KamailioRpcError(f"{method}: {failures[0][1]}")
        each = "; ".join(f"{url}: {error}" for url, error in failures)
        raise KamailioRpcError(f"{method}: no Kamailio answers ({each})")

    async def aclose(self) -> None:
        await self._http.aclose()


class RpcCaller(Protocol):
    """What a reader asks of Kamailio's RPC (`KamailioRpc` has it)."""

    async def call(self, method: str, *params: str) -> Any: ...


class ReadOutage:
    """One WARNING on ``log`` when reads of ``what`` from Kamailio start failing (what was
    read last is kept meanwhile), one INFO when they work again; nothing in between."""

    def __init__(self, what: str, log: logging.Logger) -> None:
        self._what = what
        self._log = log
        self.failing = False

    def failed(self, exc: Exception) -> None:
        if not self.failing:
            self._log.warning(
                "%s not read from Kamailio (%s); kept as they were until it answers",
                self._what, exc,
            )  # fmt: skip
        self.failing = True

    def read(self) -> None:
        if self.failing:
            self._log.info("%s read from Kamailio again", self._what)
        self.failing = False
