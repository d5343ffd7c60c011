"""Which CCR phones are registered: Asterisk's device states, told to the router.

Theory of operation
-------------------
A CCR logged in at the web desk whose phone is not registered (not plugged in yet, gone home
without logging out) cannot be rung. app_queue knows this from each member's device state and
skips the member; line311 does the same: the router pauses such a CCR ``phone-offline`` (see
`line311.routing.agents.AutoPausePolicy`) and resumes them once the phone registers, so no
call waits on a dial that cannot ring and no offer is spent finding out::

    Asterisk                                  PhoneWatch                    RouterDesk
    (re)connect ── POST subscription ───────▶ deviceState:PJSIP/agentN
                ── GET /endpoints ──────────▶ offline / online ─────────▶ phone_state(agent, online)
    REGISTER    ── DeviceStateChanged ──────▶ NOT_INUSE: online ────────▶ phone_state(agent, True)
    expiry      ── DeviceStateChanged ──────▶ UNAVAILABLE: offline ─────▶ phone_state(agent, False)

A device is offline when Asterisk says ``UNAVAILABLE`` (no registered contact) or
``INVALID``; every other state (idle, in use, ringing, on hold, unknown) is a phone that can
be reached. Only a change of that one bit reaches the router, so the several device state
changes of each call (ringing, in use, idle) cost a dictionary lookup each.

After every (re)connect the watch subscribes again and reads every endpoint's state
(``GET /endpoints``: one request for the whole roster); a state a `DeviceStateChanged` told
while that read was under way is newer than the read, and wins. A roster endpoint that
Asterisk does not have at all (a roster longer than ``agent_count``) is offline, with a
WARNING naming it; one of a technology that lists no endpoints (``Local/...``) is left
alone. A failure is logged and retried at the next connect: the router then keeps what it
knew.

With several Asterisks (Kamailio in front) the phones register with Kamailio, not with an
Asterisk, so an Asterisk cannot tell: the watch is not run there (`line311.bootstrap`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from line311.ari.errors import AriError
from line311.routing.phones import PhoneDesk, PhoneStates

__all__ = ["OFFLINE_STATES", "PhoneDesk", "PhoneWatch"]

logger = logging.getLogger(__name__)

OFFLINE_STATES = frozenset({"UNAVAILABLE", "INVALID"})
"""Device states of a phone that cannot be rung (no registered contact)."""
_OFFLINE_ENDPOINT = "offline"
"""``GET /endpoints``' state of an endpoint with no reachable contact."""
_CHUNK = 50
"""Event sources per subscription request (keeps each URL short whatever the roster)."""


class PhoneAri(Protocol):
    """What the watch asks of ARI (`line311.ari.client.AriClient` has it)."""

    app: str

    async def subscribe(self, app: str, sources: Iterable[str]) -> None: ...

    async def endpoint_states(self) -> dict[str, str]: ...


class PhoneWatch:
    """Follows the roster's phones (``devices``: device name such as ``PJSIP/agent1`` ->
    agent id) and tells ``desk`` when one registers or loses its registration."""

    def __init__(self, ari: PhoneAri, desk: PhoneDesk, devices: Mapping[str, str]) -> None:
        self._ari = ari
        self._agents = dict(devices)
        self.states = PhoneStates(desk)
        """What the desk was last told, per agent."""
        self._told: set[str] | None = None
        """Agents an event told of while `sync` reads the endpoints (None: no read)."""

    async def sync(self) -> None:
        """Subscribe to the phones' device states and read where each stands now. Run after
        every (re)connect; never raises for ARI (logged, retried at the next connect)."""
        devices = list(self._agents)
        self._told = set()
        try:
            for i in range(0, len(devices), _CHUNK):
                await self._ari.subscribe(
                    self._ari.app, [f"deviceState:{d}" for d in devices[i : i + _CHUNK]]
                )
            states = await self._ari.endpoint_states()
        except AriError as exc:
            logger.warning("CCR phones' registrations not read (%s); kept as they were", exc)
            return
        finally:
            told, self._told = self._told, None
        techs = {device.partition("/")[0] for device in states}
        offline, missing = 0, []
        for device, agent_id in self._agents.items():
            if agent_id in told:
                continue  # an event during the read said something newer
            state = states.get(device)
            if state is None:
                if device.partition("/")[0] not in techs:
                    continue  # a technology without endpoints (Local/...): cannot tell
                missing.append(device)  # no such endpoint: nothing can ring it
            online = state is not None and state != _OFFLINE_ENDPOINT
            offline += not online
            self.states.tell(agent_id, online)
        if missing:
            logger.warning(
                "the roster names %d endpoint(s) Asterisk does not have (%s): their CCRs "
                "cannot be rung (agent_count, asterisk_conf/pjsip.conf)",
                len(missing), ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else ""),
            )  # fmt: skip
        logger.info("CCR phones: %d of %d not registered", offline, len(self._agents))

    def on_event(self, event: Mapping[str, Any]) -> None:
        """One ``DeviceStateChanged``; anything malformed or of another device is ignored."""
        device = event.get("device_state")
        if not isinstance(device, Mapping):
            return
        name, state = device.get("name"), device.get("state")
        agent_id = self._agents.get(name) if isinstance(name, str) else None
        if agent_id is None or not isinstance(state, str):
            return
        if self._told is not None:
            self._told.add(agent_id)
        self.states.tell(agent_id, state not in OFFLINE_STATES)
