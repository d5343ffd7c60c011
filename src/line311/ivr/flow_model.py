"""The model of a declarative call flow: node kinds, nodes, the flow, and its diagram (pure).

`line311.ivr.flow` parses and validates the YAML format into these (and re-exports them);
`mermaid` draws a flow as a Mermaid graph.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from line311.ivr.catalogue import Catalogue

__all__ = [
    "LANGUAGES",
    "RESERVED_KEYS",
    "SYSTEM_PROMPTS",
    "Flow",
    "FlowSettings",
    "Node",
    "NodeKind",
    "OtherLanguages",
    "PromptSource",
    "mermaid",
]

PromptSource = Catalogue | Mapping[str, Collection[str]]
"""What a flow's prompts are checked against: the prompt `Catalogue`, or prompt id -> languages."""

LANGUAGES: tuple[str, ...] = ("en", "es", "cmn", "yue", "ru", "ko", "ht")
"""The seven IVR languages, in the order of the language menu (digits 1..7)."""

RESERVED_KEYS = frozenset("09*#")
"""Keys with a meaning in every menu: 0 representative, 9 back, * repeat, # end of entry."""

SYSTEM_PROMPTS: dict[str, tuple[str, ...]] = {
    "always": ("invalid_choice", "no_input"),
    "info": ("info_after", "info_unavailable"),
    "sr_status": (
        "sr_enter",
        "sr_invalid",
        "sr_you_entered",
        "sr_confirm_options",
        "sr_please_wait",
        "sr_status_is",
        "sr_status_open",
        "sr_status_in_progress",
        "sr_status_assigned",
        "sr_status_pending",
        "sr_status_closed",
        "sr_status_unknown",
        "sr_updated_on",
        "sr_result_options",
        "sr_not_found",
        "sr_unavailable",
        "offer_representative",
    ),
}
"""Prompt ids the engine itself plays, by the node kind that needs them."""

_ID = re.compile(r"^[a-z][a-z0-9_]*\Z")


class NodeKind(enum.Enum):
    PLAY = "play"
    ALERTS = "alerts"
    LANGUAGE = "language"
    MENU = "menu"
    INFO = "info"
    SR_STATUS = "sr_status"
    QUEUE = "queue"
    TRANSFER = "transfer"
    HANGUP = "hangup"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def interactive(self) -> bool:
        return self in _INTERACTIVE


_TERMINAL = frozenset({NodeKind.QUEUE, NodeKind.TRANSFER, NodeKind.HANGUP})
_INTERACTIVE = frozenset({NodeKind.LANGUAGE, NodeKind.MENU, NodeKind.INFO, NodeKind.SR_STATUS})


@dataclass(frozen=True, slots=True)
class FlowSettings:
    """Timers and limits of a flow (all seconds)."""

    digit_timeout: float = 6.0
    """Silence after a menu's prompts before it counts as a missing entry."""
    entry_timeout: float = 10.0
    """Silence while keying an SR number (between digits) before the entry is taken as is."""
    language_timeout: float = 5.0
    """Silence after the language menu before English (the first language) is chosen."""
    max_attempts: int = 3
    """Invalid or missing entries in one node before ``on_exhausted``."""
    on_exhausted: str = "representative"
    """Terminal node taken after ``max_attempts`` (a queue node, or a polite goodbye)."""
    representative: str = "representative"
    """Terminal node ``0`` leads to (normally a queue node without a fixed topic)."""
    lookup_timeout: float = 8.0
    """The session's backstop for an SR lookup (then "unavailable"). The controller's edge
    cuts the CRM request itself at ``min(5 s, lookup_timeout)``."""
    max_sr_lookups: int = 3
    """SR lookups (found or not) one call may make; past them the SR status node says
    "information is not available right now" and offers a representative or the way back
    (SR numbers are easy to generate: one call must not walk through them)."""
    max_playback: float = 120.0
    """Longest one prompt may play before the session assumes the playback is stuck."""
    max_call: float = 900.0
    """Longest a caller may stay in the IVR; then ``on_exhausted`` is taken."""


@dataclass(frozen=True, slots=True)
class OtherLanguages:
    """A language node's way to a person for callers of none of its languages.

    After the options the node plays ``prompt`` in English ("For all other languages, press
    0."); ``key`` takes the caller to ``next`` (a queue or transfer node) with the call's
    language `line311.call.values.OTHER_LANGUAGE`: the IVR goes on in English and routing
    brings in the interpreter line from the start."""

    key: str
    prompt: str
    next: str


@dataclass(frozen=True, slots=True)
class Node:
    """One node of a flow. Which fields matter depends on ``kind`` (see the module docstring)."""

    id: str
    kind: NodeKind
    prompts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Prompt ids to play, per language."""
    next: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)
    """menu: key -> node id; language: key -> language code."""
    prompt: str | None = None
    """language: the prompt played once per option, in that option's language."""
    topic: str | None = None
    """Queue topic for a representative reached from here (queue: fixed topic, or inherit)."""
    info: str | None = None
    """info: the content key the edge provides (e.g. ``asp_today``)."""
    endpoint: str | None = None
    """transfer: the dial string of the agency's line."""
    agency: str | None = None
    """transfer: who the caller is referred to (for the record)."""
    priority: int = 0
    """queue: caller priority (higher is served first)."""
    interruptible: bool = True
    """Whether a key press stops the prompts (barge-in). Default: true except play/alerts."""
    other: OtherLanguages | None = None
    """language: the "all other languages" key (None: only the options choose)."""

    def edges(self) -> list[str]:
        """Node ids this node can lead to by its own definition (not the implicit ones)."""
        out = [self.next] if self.next is not None else []
        if self.kind is NodeKind.MENU:
            out += list(self.options.values())
        if self.other is not None:
            out.append(self.other.next)
        return out


@dataclass(frozen=True, slots=True)
class Flow:
    """A validated call flow. Build one with `load_flow`."""

    name: str
    version: int
    start: str
    nodes: Mapping[str, Node]
    settings: FlowSettings
    fingerprint: str
    """sha256 of the source text: a session saved under one flow resumes only under it."""

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def prompt_ids(self) -> set[str]:
        """Every prompt id this flow may play (system prompts included)."""
        ids = set(SYSTEM_PROMPTS["always"])
        for node in self.nodes.values():
            for seq in node.prompts.values():
                ids.update(seq)
            if node.prompt:
                ids.add(node.prompt)
            if node.other is not None:
                ids.add(node.other.prompt)
            ids.update(SYSTEM_PROMPTS.get(node.kind.value, ()))
        return ids


def mermaid(flow: Flow) -> str:
    """The flow as a Mermaid ``flowchart``: explicit edges solid, implicit ones dotted."""
    shapes = {
        NodeKind.MENU: ("{{", "}}"),
        NodeKind.LANGUAGE: ("{{", "}}"),
        NodeKind.QUEUE: ("([", "])"),
        NodeKind.TRANSFER: ("([", "])"),
        NodeKind.HANGUP: ("([", "])"),
    }
    lines = ["flowchart TD"]
    for node in flow.nodes.values():
        left, right = shapes.get(node.kind, ("[", "]"))
        label = f"{node.id}<br/><i>{node.kind.value}</i>"
        if node.info:
            label += f"<br/>{node.info}"
        if node.agency:
            label += f"<br/>{node.agency}"
        lines.append(f'    {node.id}{left}"{label}"{right}')
    for node in flow.nodes.values():
        if node.kind is NodeKind.LANGUAGE:
            langs = ",".join(f"{k}={v}" for k, v in sorted(node.options.items()))
            lines.append(f'    {node.id} -->|"{langs}, timeout=en"| {node.next}')
            if node.other is not None:
                lines.append(f'    {node.id} -->|"{node.other.key}=other"| {node.other.next}')
        elif node.kind is NodeKind.MENU:
            for key, target in sorted(node.options.items()):
                lines.append(f'    {node.id} -->|"{key}"| {target}')
        elif node.next is not None:
            lines.append(f"    {node.id} --> {node.next}")
        if node.kind.interactive and node.kind is not NodeKind.LANGUAGE:
            lines.append(f'    {node.id} -.->|"0"| {flow.settings.representative}')
    if flow.settings.on_exhausted != flow.settings.representative:
        lines.append(
            f"    %% after {flow.settings.max_attempts} invalid/missing entries: "
            f"{flow.settings.on_exhausted}"
        )
    return "\n".join(lines) + "\n"
