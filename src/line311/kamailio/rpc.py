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
from typing import Any, Protocol

import httpx

from line311.kamailio.errors import KamailioError

__all__ = ["REFUSED", "KamailioRpc", "KamailioRpcError", "ReadOutage", "RpcCaller"]


class KamailioRpcError(KamailioError):
    """Kamailio's RPC did not answer, or answered with an error or something unreadable."""


REFUSED = {
    401: " (Kamailio refused the token: set the same kamailio_rpc_token for both)",
    403: " (Kamailio does not take RPC from this host: add it to kamailio_rpc_allow)",
}


class KamailioRpc:
    """Kamailio's JSON-RPC over HTTP (its ``jsonrpcs`` module on ``xhttp``), at ``url``
    (``http://host:port/RPC``), with the bearer ``token`` it requires (`kamailio_rpc_token`)."""

    def __init__(
        self,
        url: str,
        *,
        token: str,
        timeout: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._http = httpx.AsyncClient(
            timeout=timeout, headers={"Authorization": f"Bearer {token}"}, transport=transport
        )
        self._id = 0

    async def call(self, method: str, *params: str) -> Any:
        """The ``result`` of ``method``; KamailioRpcError for anything else."""
        self._id += 1
        body = {"jsonrpc": "2.0", "method": method, "params": list(params), "id": self._id}
        try:
            response = await self._http.post(self.url, json=body)
        except httpx.HTTPError as exc:
            raise KamailioRpcError(f"{method}: {type(exc).__name__}: {exc}") from None
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

    async def aclose(self) -> None:
        await self._http.aclose()


class RpcCaller(Protocol):
    """What a reader asks of Kamailio's RPC (`KamailioRpc` has it)."""

    async def call(self, method: str, *params: str) -> Any: ...


class ReadOutage:
    """One WARNING on ``log`` when reads of ``what`` from Kamailio start failing (saying what
    is done meanwhile, ``meanwhile``), one INFO when they work again; nothing in between."""

    def __init__(self, what: str, meanwhile: str, log: logging.Logger) -> None:
        self._what = what
        self._meanwhile = meanwhile
        self._log = log
        self.failing = False

    def failed(self, exc: Exception) -> None:
        if not self.failing:
            self._log.warning(
                "%s not read from Kamailio (%s); %s until it answers", self._what, exc,
                self._meanwhile,
            )  # fmt: skip
        self.failing = True

    def read(self) -> None:
        if self.failing:
            self._log.info("%s read from Kamailio again", self._what)
        self.failing = False
