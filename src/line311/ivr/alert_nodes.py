"""Which nodes of a call flow a pushed alert may target (pure).

An alert targeted at a node is played on entering that node, before the node's own prompts
(`line311.ivr.alerts`, ``Moment.NODE``). Some targets would make an alert that nobody hears,
or one heard in the wrong place; `node_refusal` names them so the alert is refused when a
supervisor makes it, not discovered after the event:

``unknown``          the flow has no such node (a typo): no caller ever enters it.
``start``            the flow's first node (the thin-layer greeting): the alert would play
                     before the greeting, which every caller must hear first. An alert with
                     no node already plays to every caller right after it.
``alerts``           an ``alerts`` node: that is where alerts with no node play.
``before-language``  a node callers only reach before they choose a language, with
                     languages targeted: the caller's language is not known there yet (it
                     is still the default, English), so such an alert would reach nobody
                     (or, for English, everybody).

A flow reload is never refused because of an alert, so a live alert's node can leave the
flow (or become one of the targets above) after the alert was approved. `orphaned_alerts`
names those alerts with the reason; a call on such a flow plays each of them where an
alert without a node plays (`line311.ivr.alerts.due`, ``fallback``): right after the
greeting, or, for an alert that names languages, right after the caller chooses one of
them. A call that started on the old flow, where the node still is, plays it at the node.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from line311.call.alerts import PushedAlert
from line311.ivr.flow_model import Flow, NodeKind

__all__ = ["NodeRefusal", "alert_target_nodes", "node_refusal", "orphaned_alerts"]


@dataclass(frozen=True, slots=True)
class NodeRefusal:
    """Why a node cannot be an alert's target: ``reason`` (a stable id, see the module
    docstring) and a sentence for the supervisor."""

    reason: str
    message: str


def alert_target_nodes(flow: Flow) -> list[str]:
    """The nodes of ``flow`` an alert may target (in the flow's order): every node but the
    start node and the ``alerts`` nodes. (Those reached only before the language choice take
    no languages.)"""
    return [
        node.id
        for node in flow.nodes.values()
        if node.id != flow.start and node.kind is not NodeKind.ALERTS
    ]


def node_refusal(flow: Flow, node: str, languages: Collection[str] = ()) -> NodeRefusal | None:
    """Why ``node`` (with ``languages``, empty: every language) cannot be targeted in
    ``flow``, or None when it can."""
    if node not in flow.nodes:
        return NodeRefusal(
            "unknown", f"the IVR flow {flow.name!r} has no node {node!r}: no caller would hear it"
        )
    if node == flow.start:
        return NodeRefusal(
            "start",
            f"{node!r} is where every call starts: the greeting is always heard first. An "
            "alert without a node is played to every caller right after the greeting: leave "
            "the node out",
        )
    if flow.nodes[node].kind is NodeKind.ALERTS:
        return NodeRefusal(
            "alerts",
            f"{node!r} is where the alerts without a node are played: leave the node out",
        )
    if languages and node in _before_language_only(flow):
        return NodeRefusal(
            "before-language",
            f"callers reach {node!r} before they choose a language, so an alert there "
            f"cannot be for {', '.join(sorted(languages))} only: leave the languages out "
            "(every caller hears it there, in English), leave the node out (played right "
            "after the language choice), or pick a node after the language menu",
        )
    return None


def orphaned_alerts(flow: Flow, alerts: Iterable[PushedAlert]) -> dict[str, NodeRefusal]:
    """The alerts of ``alerts`` targeted at a node ``flow`` refuses (see `node_refusal`),
    by alert id: a call on ``flow`` plays them where alerts without a node play."""
    return {
        alert.alert_id: refusal
        for alert in alerts
        if alert.node is not None
        and (refusal := node_refusal(flow, alert.node, alert.languages)) is not None
    }


def _before_language_only(flow: Flow) -> set[str]:
    """The nodes a call can only enter before its language is chosen (empty when the flow
    has no language menu: the language is known from the start)."""
    menus = [n for n in flow.nodes.values() if n.kind is NodeKind.LANGUAGE]
    if not menus:
        return set()
    before = _reachable(flow, [flow.start], stop_at_language=True)
    after = _reachable(flow, [m.next for m in menus if m.next], stop_at_language=False)
    return before - after


def _reachable(flow: Flow, starts: Iterable[str], *, stop_at_language: bool) -> set[str]:
    """Nodes reachable from ``starts`` by explicit edges, and the representative and
    exhaustion nodes from any interactive node; a language node is not left when
    ``stop_at_language`` (leaving it is choosing a language)."""
    seen = set(starts)
    todo = list(seen)
    while todo:
        node = flow.nodes[todo.pop()]
        if stop_at_language and node.kind is NodeKind.LANGUAGE:
            continue
        targets = node.edges()
        if node.kind.interactive:
            targets += [flow.settings.representative, flow.settings.on_exhausted]
        for target in targets:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen
