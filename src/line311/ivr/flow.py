"""Declarative call flows: the YAML format, its model, and the validator.

A flow is a graph of *nodes*. `CallSession` walks it; this module only describes it and
refuses, at load time, any flow that could strand a caller or play a prompt that does not
exist. `load_flow` is pure (text in, `Flow` out); `load_flow_file` is the one function here
that touches the file system, for start-up and reloads.
The model (`Flow`, `Node`, `NodeKind`, `mermaid`) is in `line311.ivr.flow_model` and the
graph and prompt checks in `line311.ivr.flow_check`; this module parses and re-exports.

Format (see ``content/flows/nyc311.yaml`` for a complete one)::

    flow: nyc311                 # name, shown in records and logs
    version: 3                   # bump on every change; part of the fingerprint
    start: greeting              # first node
    settings:                    # all optional, defaults in `FlowSettings`
      digit_timeout: 6           # seconds of silence after a menu before "no input"
      max_attempts: 3            # invalid or missing entries before `on_exhausted`
      on_exhausted: representative   # terminal node taken after too many attempts
      representative: representative # terminal node `0` leads to (a queue node)
    nodes:
      greeting: {kind: play, prompts: [greeting], next: alerts}
      main:
        kind: menu
        topic: general           # the queue topic when the caller presses 0 here
        prompts:                 # a list: the same prompt ids in every language, or
          en: [main_menu]        # a mapping naming all seven languages
          ...
        options: {"1": parking, "2": sanitation}
      language:
        kind: language
        prompt: language_option  # played once per option, in that option's language
        options: {"1": en, "2": es}
        other:                   # optional: "For all other languages, press 0" (in English)
          key: "0"               # default "0"; must not be an option's key
          prompt: language_other
          next: interpreter      # a queue (or transfer) node; the call's language is "und"
        next: main

Node kinds (`NodeKind`):

========== ============================================================ =================
kind       what it does                                                 leaves by
========== ============================================================ =================
play       plays ``prompts``                                            ``next``
alerts     plays the live untargeted pushed alerts (none is fine)       ``next``
language   plays ``prompt`` once per option, each in its own language   digit or timeout,
           (and ``other.prompt`` in English)                            ``other.key``
menu       plays ``prompts``, waits for a digit                         ``options``
info       speaks the self-service content for ``info``                 ``*`` ``9`` ``0``
sr_status  SR number entry, read-back, confirmation, lookup, result     ``*`` ``9`` ``0``
queue      plays ``prompts``, enqueues for a representative             (terminal)
transfer   plays ``prompts``, transfers to ``endpoint`` (a referral)    (terminal)
hangup     plays ``prompts``, hangs up                                  (terminal)
========== ============================================================ =================

In every interactive node (language, menu, info, sr_status) the session also counts invalid
and missing entries and takes ``settings.on_exhausted`` after ``max_attempts``; in every
menu-like node (menu, info, sr_status once a number is entered) ``0`` takes
``settings.representative``, ``9`` goes back and ``*`` repeats. So an interactive node always
has a way out, and the validator's job is the rest: every reference resolves, every node is
reachable from ``start``, non-interactive nodes (play, alerts) form no cycle (a loop without
exit), menu options avoid the reserved keys, and each prompt exists in the catalogue in every
language it is played in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from line311 import CONTENT_DIR
from line311.ivr.errors import FlowError
from line311.ivr.flow_check import _check_graph, _check_prompts
from line311.ivr.flow_model import (
    _ID,
    LANGUAGES,
    RESERVED_KEYS,
    SYSTEM_PROMPTS,
    Flow,
    FlowSettings,
    Node,
    NodeKind,
    OtherLanguages,
    PromptSource,
    mermaid,
)
from line311.yaml_doc import safe_load

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
    "builtin_flow",
    "default_flow",
    "load_flow",
    "load_flow_file",
    "mermaid",
]

_NODE_KEYS = {
    NodeKind.PLAY: {"prompts", "next", "interruptible", "topic"},
    NodeKind.ALERTS: {"next", "interruptible", "topic"},
    NodeKind.LANGUAGE: {"prompt", "options", "next", "interruptible", "topic", "other"},
    NodeKind.MENU: {"prompts", "options", "topic", "interruptible"},
    NodeKind.INFO: {"info", "prompts", "topic", "interruptible"},
    NodeKind.SR_STATUS: {"prompts", "topic", "interruptible"},
    NodeKind.QUEUE: {"prompts", "topic", "priority"},
    NodeKind.TRANSFER: {"prompts", "endpoint", "agency", "topic"},
    NodeKind.HANGUP: {"prompts"},
}
_REQUIRED = {
    NodeKind.PLAY: {"prompts", "next"},
    NodeKind.ALERTS: {"next"},
    NodeKind.LANGUAGE: {"prompt", "options", "next"},
    NodeKind.MENU: {"prompts", "options", "topic"},
    NodeKind.INFO: {"info", "topic"},
    NodeKind.SR_STATUS: {"topic"},
    NodeKind.QUEUE: set(),
    NodeKind.TRANSFER: {"endpoint", "agency"},
    NodeKind.HANGUP: set(),
}


def load_flow(
    text: str,
    *,
    catalogue: PromptSource | None = None,
) -> Flow:
    """Parse and validate a flow from YAML ``text``.

    ``catalogue`` maps each known prompt id to the languages it exists in; when given, every
    prompt the flow may play must exist in every language it may be played in.
    Raises `FlowError` (naming the node) on the first problem found.
    """
    try:
        doc = safe_load(text)
    except yaml.YAMLError as exc:
        raise FlowError(f"not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise FlowError("a flow is a YAML mapping with keys flow, version, start, nodes")
    _no_extra(doc, {"flow", "version", "start", "settings", "nodes"}, "flow document", None)
    name = doc.get("flow")
    version = doc.get("version")
    start = doc.get("start")
    if not isinstance(name, str) or not name:
        raise FlowError("'flow' (the flow's name) must be a non-empty string")
    if not isinstance(version, int) or isinstance(version, bool):
        raise FlowError("'version' must be an integer")
    settings = _settings(doc.get("settings") or {})
    raw_nodes = doc.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        raise FlowError("'nodes' must be a non-empty mapping of node id -> node")
    nodes = {str(k): _node(str(k), v) for k, v in raw_nodes.items()}
    if not isinstance(start, str) or start not in nodes:
        raise FlowError(f"'start' must name a node, got {start!r}")
    flow = Flow(
        name=name,
        version=version,
        start=start,
        nodes=nodes,
        settings=settings,
        fingerprint=hashlib.sha256(text.encode()).hexdigest(),
    )
    _check_graph(flow)
    if catalogue is not None:
        _check_prompts(flow, catalogue)
    return flow


def load_flow_file(path: str | Path, *, catalogue: PromptSource | None = None) -> Flow:
    """Read and validate a flow file (start-up and reload only: this does file I/O)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlowError(f"cannot read flow file {p}: {exc.strerror}") from exc
    try:
        return load_flow(text, catalogue=catalogue)
    except FlowError as exc:
        err = FlowError(f"{p.name}: {exc}")
        err.node = exc.node
        raise err from exc


def default_flow_path() -> Path:
    """The shipped 311 flow, ``content/flows/nyc311.yaml`` (package data)."""
    return CONTENT_DIR / "flows" / "nyc311.yaml"


def default_flow(*, catalogue: PromptSource | None = None) -> Flow:
    """The shipped NYC-style 311 flow: greeting, alerts, seven languages, self-service, SR."""
    return load_flow_file(default_flow_path(), catalogue=catalogue)


_BUILTIN = """\
flow: builtin-greeting
version: 1
start: greeting
nodes:
  greeting: {kind: play, prompts: [greeting], next: end}
  end: {kind: hangup}
  representative: {kind: queue, topic: general}
"""


def builtin_flow() -> Flow:
    """The tiny flow used when none is configured: greeting, then hang up."""
    return _BUILTIN_FLOW


# ---------------------------------------------------------------------------- parsing
def _no_extra(raw: Mapping[str, Any], allowed: Iterable[str], what: str, node: str | None) -> None:
    extra = sorted(set(raw) - set(allowed))
    if extra:
        raise FlowError(f"unknown key(s) in {what}: {', '.join(map(str, extra))}", node=node)


def _settings(raw: Any) -> FlowSettings:
    if not isinstance(raw, dict):
        raise FlowError("'settings' must be a mapping")
    names = set(FlowSettings.__dataclass_fields__)
    _no_extra(raw, names, "settings", None)
    defaults = FlowSettings()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        default = getattr(defaults, key)
        if isinstance(default, str):
            if not isinstance(value, str):
                raise FlowError(f"settings.{key} must be a node id")
        elif isinstance(default, int) and not isinstance(default, bool):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise FlowError(f"settings.{key} must be a positive integer")
        elif isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise FlowError(f"settings.{key} must be a positive number of seconds")
        values[key] = float(value) if isinstance(default, float) else value
    return FlowSettings(**values)


def _node(node_id: str, raw: Any) -> Node:
    if not _ID.match(node_id):
        raise FlowError("node ids are lower_snake_case", node=node_id)
    if not isinstance(raw, dict):
        raise FlowError("a node is a mapping with at least 'kind'", node=node_id)
    try:
        kind = NodeKind(raw.get("kind"))
    except ValueError:
        kinds = ", ".join(k.value for k in NodeKind)
        raise FlowError(f"'kind' must be one of {kinds}", node=node_id) from None
    body = {k: v for k, v in raw.items() if k != "kind"}
    _no_extra(body, _NODE_KEYS[kind], f"a {kind.value} node", node_id)
    missing = sorted(_REQUIRED[kind] - set(body))
    if missing:
        raise FlowError(f"a {kind.value} node needs {', '.join(missing)}", node=node_id)

    def opt_str(key: str) -> str | None:
        value = body.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise FlowError(f"'{key}' must be a non-empty string", node=node_id)
        return value

    interruptible = body.get("interruptible", kind not in (NodeKind.PLAY, NodeKind.ALERTS))
    if not isinstance(interruptible, bool):
        raise FlowError("'interruptible' must be true or false", node=node_id)
    priority = body.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise FlowError("'priority' must be an integer", node=node_id)
    options = _options(node_id, kind, body.get("options", {}))
    return Node(
        id=node_id,
        kind=kind,
        prompts=_prompts(node_id, body.get("prompts", [])),
        next=opt_str("next"),
        options=options,
        prompt=opt_str("prompt"),
        topic=opt_str("topic"),
        info=opt_str("info"),
        endpoint=opt_str("endpoint"),
        agency=opt_str("agency"),
        priority=priority,
        interruptible=interruptible,
        other=_other(node_id, body.get("other"), options),
    )


def _prompts(node_id: str, raw: Any) -> dict[str, tuple[str, ...]]:
    def seq(value: Any, where: str) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(p, str) and p for p in value):
            raise FlowError(f"{where} must be a list of prompt ids", node=node_id)
        return tuple(value)

    if isinstance(raw, dict):
        _no_extra(raw, LANGUAGES, "prompts (languages)", node_id)
        missing = [lang for lang in LANGUAGES if lang not in raw]
        if missing:
            raise FlowError(f"prompts missing language(s): {', '.join(missing)}", node=node_id)
        return {lang: seq(raw[lang], f"prompts.{lang}") for lang in LANGUAGES}
    shared = seq(raw, "'prompts'")
    return dict.fromkeys(LANGUAGES, shared)


def _other(node_id: str, raw: Any, options: Mapping[str, str]) -> OtherLanguages | None:
    """A language node's ``other`` (see the module docstring); None when absent."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise FlowError("'other' must be a mapping with prompt, next and key", node=node_id)
    _no_extra(raw, {"key", "prompt", "next"}, "other", node_id)
    missing = sorted({"prompt", "next"} - set(raw))
    if missing:
        raise FlowError(f"'other' needs {', '.join(missing)}", node=node_id)
    key = str(raw.get("key", "0"))
    if len(key) != 1 or key not in "0123456789*#":
        raise FlowError(f"other.key {key!r} is not a single phone key", node=node_id)
    if key in options:
        raise FlowError(f"other.key {key!r} is also a language option's key", node=node_id)
    for field in ("prompt", "next"):
        value = raw[field]
        if not isinstance(value, str) or not value:
            raise FlowError(f"other.{field} must be a non-empty string", node=node_id)
    return OtherLanguages(key=key, prompt=raw["prompt"], next=raw["next"])


def _options(node_id: str, kind: NodeKind, raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise FlowError("'options' must be a mapping of key -> target", node=node_id)
    out: dict[str, str] = {}
    for key, target in raw.items():
        k = str(key)
        if len(k) != 1 or k not in "0123456789*#":
            raise FlowError(f"option key {k!r} is not a single phone key", node=node_id)
        if kind is NodeKind.MENU and k in RESERVED_KEYS:
            raise FlowError(
                f"option key {k!r} is reserved (0 agent, 9 back, * repeat)", node=node_id
            )
        if not isinstance(target, str):
            raise FlowError(f"option {k!r} must name a target", node=node_id)
        if kind is NodeKind.LANGUAGE and target not in LANGUAGES:
            raise FlowError(f"option {k!r}: unknown language {target!r}", node=node_id)
        out[k] = target
    if kind in (NodeKind.MENU, NodeKind.LANGUAGE) and not out:
        raise FlowError("needs at least one option", node=node_id)
    return out


_BUILTIN_FLOW = load_flow(_BUILTIN)
