"""What the router was last told of each CCR phone's registration.

Both edges that follow the phones (Asterisk's device states with one Asterisk,
`line311.ari.phones`; Kamailio's location table with several,
`line311.kamailio.registrations`) reduce what they hear to one bit per CCR, registered or not,
and tell the router only when that bit changes. `PhoneStates` is that bit and the telling.
"""

from __future__ import annotations

import logging
from typing import Protocol

from line311.routing.errors import RoutingError

__all__ = ["PhoneDesk", "PhoneStates"]

logger = logging.getLogger(__name__)


class PhoneDesk(Protocol):
    """Who is told (`line311.ari.queue_router.RouterDesk`)."""

    def phone_state(self, agent_id: str, online: bool) -> None: ...


class PhoneStates:
    """Each CCR's phone, registered or not, as ``desk`` was last told."""

    def __init__(self, desk: PhoneDesk) -> None:
        self._desk = desk
        self._online: dict[str, bool] = {}
        self.changes = 0
        """Changes told so far."""

    def online(self, agent_id: str) -> bool | None:
        """Whether the agent's phone is registered, as last told (None: not told yet)."""
        return self._online.get(agent_id)

    def count(self, online: bool) -> int:
        """Phones last told as registered (``online``) or not."""
        return sum(1 for state in self._online.values() if state is online)

    def tell(self, agent_id: str, online: bool) -> bool:
        """Tell the desk the phone's state if it is news (True); a CCR the router refuses
        (not in its roster) is logged, and the others are still told."""
        if self._online.get(agent_id) is online:
            return False
        self._online[agent_id] = online
        self.changes += 1
        try:
            self._desk.phone_state(agent_id, online)
        except RoutingError as exc:
            logger.warning("agent %s: phone state not applied: %s", agent_id, exc)
        return True
