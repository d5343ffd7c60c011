"""The load-time checks of a call flow: no caller stranded, no prompt missing (pure).

`check_graph` refuses a flow with a dangling edge, an unreachable node or a loop without a
way out; `check_prompts` refuses a prompt missing in a language it may be played in. Both
raise `FlowError` naming the node; `line311.ivr.flow.load_flow` runs them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from line311.ivr.catalogue import Catalogue
from line311.ivr.errors import FlowError
from line311.ivr.flow_model import (
    LANGUAGES,
    SYSTEM_PROMPTS,
    Flow,
    NodeKind,
    PromptSource,
)

__all__ = ["_check_graph", "_check_prompts"]

_TO_A_PERSON = frozenset({NodeKind.QUEUE, NodeKind.TRANSFER})
"""Where a language node's "all other languages" key may lead: a caller who understands
none of the menus must reach a person, not more menus."""


def _check_graph(flow: Flow) -> None:
    nodes = flow.nodes
    for node in nodes.values():
        for target in node.edges():
            if target not in nodes:
                raise FlowError(f"leads to unknown node {target!r}", node=node.id)
        if node.other is not None and nodes[node.other.next].kind not in _TO_A_PERSON:
            raise FlowError(
                f"other.next must name a queue or transfer node, not {node.other.next!r}",
                node=node.id,
            )
    for key in ("on_exhausted", "representative"):
        target = getattr(flow.settings, key)
        if target not in nodes:
            raise FlowError(f"settings.{key} names unknown node {target!r}")
        if not nodes[target].kind.terminal:
            raise FlowError(
                f"settings.{key} must name a queue, transfer or hangup node", node=target
            )
    # Reachability from start; the settings targets are reachable from any interactive node.
    seen = {flow.start}
    todo = [flow.start]
    any_interactive = False
    while todo:
        node = nodes[todo.pop()]
        any_interactive |= node.kind.interactive
        for target in node.edges():
            if target not in seen:
                seen.add(target)
                todo.append(target)
    if any_interactive:
        for key in ("on_exhausted", "representative"):
            seen.add(getattr(flow.settings, key))
    for node_id in nodes:
        if node_id not in seen and node_id not in (
            flow.settings.on_exhausted,
            flow.settings.representative,
        ):
            raise FlowError(f"unreachable from start node {flow.start!r}", node=node_id)
    # Play/alerts nodes move on by themselves: a cycle of them never ends.
    for node in nodes.values():
        if node.kind in (NodeKind.PLAY, NodeKind.ALERTS):
            path = [node.id]
            current = node
            while current.kind in (NodeKind.PLAY, NodeKind.ALERTS) and current.next:
                current = nodes[current.next]
                if current.id in path:
                    loop = " -> ".join([*path[path.index(current.id) :], current.id])
                    raise FlowError(f"loop with no exit: {loop}", node=node.id)
                path.append(current.id)


def _check_prompts(flow: Flow, source: PromptSource) -> None:
    catalogue: Mapping[str, Collection[str]]
    if isinstance(source, Catalogue):
        catalogue = {pid: tuple(prompt.texts) for pid, prompt in source.items()}
    else:
        catalogue = source

    def need(prompt: str, langs: Iterable[str], node: str | None) -> None:
        if prompt not in catalogue:
            raise FlowError(f"unknown prompt id {prompt!r}", node=node)
        missing = [lang for lang in langs if lang not in catalogue[prompt]]
        if missing:
            raise FlowError(
                f"prompt {prompt!r} missing in language(s): {', '.join(missing)}", node=node
            )

    for prompt in SYSTEM_PROMPTS["always"]:
        need(prompt, LANGUAGES, None)
    for node in flow.nodes.values():
        for lang, seq in node.prompts.items():
            for prompt in seq:
                need(prompt, [lang], node.id)
        if node.prompt is not None:
            need(node.prompt, node.options.values(), node.id)
        if node.other is not None:  # spoken in English, the first language
            need(node.other.prompt, LANGUAGES[:1], node.id)
        for prompt in SYSTEM_PROMPTS.get(node.kind.value, ()):
            need(prompt, LANGUAGES, node.id)
