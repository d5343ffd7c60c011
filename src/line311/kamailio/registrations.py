"""Which CCR phones are registered, with several Asterisks: Kamailio's location table, polled.

Theory of operation
-------------------
With one Asterisk the phones register with it, and `line311.ari.phones` follows its device
states. With several (``asterisks >= 2``) they register with Kamailio, the SIP edge in front,
and no Asterisk knows whether a phone is there: an offer to an unregistered phone was only
found out by ringing it (Kamailio's 404: the CCR held ``unreachable``, tried again after a
doubling hold of up to ``queue_unreachable_hold_max``, so a CCR whose phone came back could
sit idle for minutes). This watch reads Kamailio's location table instead and tells the
router the same one bit per CCR the device states tell, so the CCR is paused
``phone-offline`` while the phone is away and offered calls again within a poll of its next
REGISTER::

    Kamailio (xhttp + jsonrpcs)           RegistrationWatch                RouterDesk
    location table ◀── POST /RPC ul.dump brief ── every poll
    REGISTER: contact in the table ─────▶ online ─────────────────────▶ phone_state(agent, True)
    expiry, keepalive drop: none left ──▶ offline ────────────────────▶ phone_state(agent, False)

One request per poll reads the whole table (``ul.dump brief``: the AoRs that hold a
contact, some 50 bytes a phone; 1.7 ms a read on loopback with Kamailio 6.1), so the cost
does not grow with the calls, only with the phones: 400 phones every 2 s is some 10 kB/s.
Only a change of a CCR's bit reaches the router.

A phone is registered while Kamailio's table holds its AoR (``agentN``): usrloc drops the
AoR when its last contact goes (an un-REGISTER at once; an expiry, or a phone its keepalive
gave up on, at its next timer round). A poll that fails (Kamailio down or restarting, a
bad answer) changes nothing: the router keeps what it knew, one WARNING says so, and one
INFO when the table is read again. A Kamailio restart empties its in-memory table: the
phones read unregistered until they register again, which is true (Kamailio could not reach
them either).

Kamailio answers RPC only on ``kamailio_rpc_port``, to a client on its own host or in
``kamailio_rpc_allow`` that sends ``kamailio_rpc_token`` (`line311.kamailio.rpc`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from line311.kamailio.errors import KamailioError
from line311.kamailio.rpc import KamailioRpcError, ReadOutage, RpcCaller
from line311.routing.phones import PhoneDesk, PhoneStates

__all__ = ["RegistrationWatch", "registered_aors"]

logger = logging.getLogger(__name__)


def registered_aors(dump: Any) -> set[str]:
    """The registered AoRs of a ``ul.dump`` result, each one's user part (``agent1`` of
    ``agent1`` or ``agent1@domain``). ``brief`` lists the AoRs that hold a contact
    (``{"AoR": ...}``); the full dump (``{"Info": {"AoR": ..., "Contacts": [...]}}``) also
    gives each contact's expiry, and an AoR counts there only with a contact that has not
    expired. KamailioRpcError when it is not a dump at all; entries of another shape are
    skipped."""
    if not isinstance(dump, Mapping) or not isinstance(dump.get("Domains"), list):
        raise KamailioRpcError("ul.dump: no Domains in the answer")
    aors: set[str] = set()
    for domain in dump["Domains"]:
        table = _get(domain, "Domain")
        for entry in _list(table, "AoRs"):
            if not isinstance(entry, Mapping):
                continue
            info = _get(entry, "Info")
            if info:
                contacts = _list(info, "Contacts")
                if not any(_live(_get(c, "Contact")) for c in contacts):
                    continue
                aor = info.get("AoR")
            else:
                aor = entry.get("AoR")  # brief: listed only while it has a contact
            if isinstance(aor, str) and aor:
                aors.add(aor.partition("@")[0])
    return aors


def _get(value: Any, key: str) -> Mapping[str, Any]:
    inner = value.get(key) if isinstance(value, Mapping) else None
    return inner if isinstance(inner, Mapping) else {}


def _list(value: Mapping[str, Any], key: str) -> list[Any]:
    inner = value.get(key)
    return inner if isinstance(inner, list) else []


def _live(contact: Mapping[str, Any]) -> bool:
    """A contact that has not expired: ``Expires`` is the seconds left, or ``permanent``
    (``deleted`` / ``expired`` / 0 and below: gone)."""
    expires = contact.get("Expires")
    if expires == "permanent":
        return True
    return isinstance(expires, int) and not isinstance(expires, bool) and expires > 0


class RegistrationWatch:
    """Polls Kamailio's location table every ``interval`` seconds and tells ``desk`` when a
    roster phone (``devices``: endpoint such as ``PJSIP/agent1`` -> agent id; the AoR is the
    part after the slash) registers or loses its registration."""

    def __init__(
        self,
        rpc: RpcCaller,
        desk: PhoneDesk,
        devices: Mapping[str, str],
        *,
        interval: float = 2.0,
    ) -> None:
        self._rpc = rpc
        self._agents = {device.partition("/")[2] or device: a for device, a in devices.items()}
        self._interval = interval
        self.states = PhoneStates(desk)
        """What the desk was last told, per agent (`count` feeds line311_ccr_phones)."""
        self._outage = ReadOutage("CCR phones' registrations", logger)
        self.polls = 0
        self.failures = 0

    async def poll(self) -> bool:
        """Read the table once and tell the changes; False (logged) when it could not be
        read, which changes nothing."""
        try:
            registered = registered_aors(await self._rpc.call("ul.dump", "brief"))
        except KamailioError as exc:
            self.failures += 1
            self._outage.failed(exc)
            return False
        self.polls += 1
        self._outage.read()
        for aor, agent_id in self._agents.items():
            online = aor in registered
            first = self.states.online(agent_id) is None
            if self.states.tell(agent_id, online) and not first:
                logger.info(
                    "agent %s's phone %s Kamailio", agent_id,
                    "registered with" if online else "is no longer registered with",
                )  # fmt: skip
        return True

    async def run(self) -> None:
        """Poll until cancelled."""
        first = True
        while True:
            if await self.poll() and first:
                first = False
                logger.info(
                    "CCR phones (Kamailio): %d of %d not registered",
                    self.states.count(False), len(self._agents),
                )  # fmt: skip
            await asyncio.sleep(self._interval)
