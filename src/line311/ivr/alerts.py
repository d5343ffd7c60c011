"""Pushed alerts as one call sees them (pure): who they target and when a call plays them.

Theory of operation
-------------------
The edge hands a `CallSession` the live pushed alerts as `PushedAlert` values (built from
the supervisors' alerts by `line311.messaging.alerts.call_alerts`), most urgent first, and
replaces them with an ``AlertsChanged`` event when they change. The session asks
`due` which of them to play at three moments of the call::

    Moment.GREETING   the flow's ``alerts`` node: alerts with no node and no language
                      (and, when the language is already known, those of that language)
    Moment.LANGUAGE   right after the caller chose a language (key or timeout): alerts
                      targeted at that language, and no node
    Moment.NODE       on entering a menu node: alerts targeted at that node (and at the
                      caller's language, when they also name languages)

An alert whose node the call's flow no longer has (the flow was reloaded after the alert
was approved: `line311.ivr.alert_nodes.orphaned_alerts`) is in ``fallback``: it plays as
if it had no node (after the greeting, or after the language choice when it names
languages) instead of never.

An alert is played at most once per call (the session keeps the ids it has played), and
only while it is live: ``until`` is the end of its window on the session's clock, so an
alert that expires between the greeting and a node is not played at the node; a withdrawn
one is gone from the list the edge last sent. Alerts due at one moment play one after the
other: one withdrawn or ended while an earlier one plays is left out when its turn comes.

Plain prompt ids are accepted where a `PushedAlert` is expected (`as_pushed`): an
untargeted alert played in the caller's language.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from line311.call.alerts import PushedAlert

__all__ = ["Moment", "PushedAlert", "as_pushed", "due", "shift_clock"]


class Moment(enum.Enum):
    GREETING = "greeting"
    LANGUAGE = "language"
    NODE = "node"


def as_pushed(alert: str | PushedAlert | Mapping[str, Any]) -> PushedAlert:
    """A `PushedAlert` from itself, a plain prompt id (untargeted) or its `to_dict` form."""
    if isinstance(alert, PushedAlert):
        return alert
    if isinstance(alert, str):
        return PushedAlert(alert_id=alert, prompt_id=alert)
    return PushedAlert.from_dict(alert)


def shift_clock(alerts: Iterable[PushedAlert], offset: float) -> list[PushedAlert]:
    """The alerts with ``until`` moved by ``offset`` seconds (from the wall clock to the
    session's clock: ``offset = session now - wall now``)."""
    return [a if a.until is None else replace(a, until=a.until + offset) for a in alerts]


def due(
    alerts: Sequence[PushedAlert],
    played: Collection[str],
    moment: Moment,
    *,
    now: float,
    language: str,
    language_known: bool = False,
    node: str | None = None,
    fallback: Collection[str] = (),
) -> list[PushedAlert]:
    """The alerts to play at ``moment`` for a caller of ``language`` (at ``node`` for
    `Moment.NODE`), in the order given, leaving out played, ended and unplayable ones.
    The alerts whose ids are in ``fallback`` are taken as having no node."""
    out = []
    for alert in alerts:
        if alert.alert_id in played or not alert.live(now):
            continue
        if alert.prompt_for(language) is None:
            continue
        target = None if alert.alert_id in fallback else alert.node
        if moment is Moment.NODE:
            wanted = (
                target is not None
                and target == node
                and (not alert.languages or language in alert.languages)
            )
        elif target is not None:
            wanted = False
        elif moment is Moment.GREETING:
            wanted = not alert.languages or (language_known and language in alert.languages)
        else:
            wanted = language in alert.languages
        if wanted:
            out.append(alert)
    return out
