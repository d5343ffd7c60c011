"""The other Kamailios of a pair (`kamailio_peers`) as this one's DMQ holds them.

``dmq.list_nodes`` lists every node DMQ knows, this one's own with ``local`` 1. It is read two
ways: by ``kamcmd`` for ``line311 kamailio status`` (`line311.kamailio.manager`), and over
JSON-RPC for the controller's /metrics (`line311.kamailio.edge_stats`). Both read the nodes'
fields into mappings and leave the rest to `peers_of`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from line311.config import url_host

__all__ = ["Peer", "peers_of"]


@dataclass(frozen=True, slots=True)
class Peer:
    """Another Kamailio of the pair, as this one's DMQ sees it."""

    address: str  # host:port of its DMQ listener
    status: str  # active, not_active, disabled, pending (dmq's words)

    @property
    def active(self) -> bool:
        return self.status == "active"


def peers_of(nodes: Iterable[Mapping[str, Any]]) -> tuple[Peer, ...]:
    """The peers among ``dmq.list_nodes``'s nodes: every node but this one (``local`` 1) and
    but a node without a host."""
    return tuple(
        Peer(f"{url_host(str(node['host']))}:{node.get('port', '')}", node.get("status", "unknown"))
        for node in nodes
        if str(node.get("local")) != "1" and "host" in node
    )
