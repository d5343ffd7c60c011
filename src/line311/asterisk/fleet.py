"""The Asterisk servers of one deployment, each as its own settings (``asterisks``).

With ``asterisks = 1`` (the default) the fleet is the settings themselves: one Asterisk at
``sip_host:sip_port``, nothing in front of it. With N >= 2, Kamailio takes the public SIP
address and each Asterisk k (1..N) gets, derived here once so every command agrees:

* instance ``<asterisk_instance>-k`` (its own directory, pid file and log) and therefore its
  own ``systemname`` (``line311-<instance>``), so channel ids never collide across servers;
* SIP at ``asterisk_sip_port_base + k``, ARI/HTTP at the ARI port + k - 1 (the first Asterisk
  keeps ``ari_url``, so a controller configured for one Asterisk still reaches the first);
* an equal slice of the RTP port range;
* ``asterisk_edge`` = the Kamailio address, which its PJSIP trusts as the carrier trunk and
  through which it reaches the agents (they register with Kamailio).
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from line311.config import Settings

__all__ = ["asterisk_fleet", "edge_address", "systemname", "uses_edge"]


def uses_edge(settings: Settings) -> bool:
    """Whether Kamailio fronts the Asterisks (two or more of them)."""
    return settings.asterisks >= 2


def edge_address(settings: Settings) -> str:
    """``host:port`` where carriers and phones reach us (Kamailio with N >= 2)."""
    return f"{settings.sip_host}:{settings.sip_port}"


def systemname(settings: Settings) -> str:
    """The ``systemname`` of the Asterisk of ``settings`` (asterisk.conf): the prefix of every
    channel id it makes (``<systemname>-<time>.<n>``)."""
    return f"line311-{settings.asterisk_instance}"


def asterisk_fleet(settings: Settings) -> list[Settings]:
    """One `Settings` per Asterisk server (just ``settings`` when there is one)."""
    n = settings.asterisks
    if n == 1:
        return [settings]
    parts = urlsplit(settings.ari_url)
    host = parts.hostname or "127.0.0.1"
    span = (settings.rtp_port_end - settings.rtp_port_start) // n
    fleet = []
    for k in range(1, n + 1):
        rtp_start = settings.rtp_port_start + (k - 1) * span
        rtp_start += rtp_start % 2  # RTP on even ports, RTCP on the odd one above
        netloc = f"{host}:{settings.ari_port + k - 1}"
        fleet.append(
            settings.model_copy(
                update={
                    "asterisks": 1,
                    "asterisk_instance": f"{settings.asterisk_instance}-{k}",
                    "sip_port": settings.asterisk_sip_port_base + k,
                    "ari_url": urlunsplit((parts.scheme, netloc, "", "", "")),
                    "rtp_port_start": rtp_start,
                    "rtp_port_end": settings.rtp_port_start + k * span - 1,
                    "asterisk_edge": edge_address(settings),
                }
            )
        )
    return fleet
