"""Flow validation, field by field: every malformed node, setting or option is refused with a
message naming what is wrong (and the node, when there is one)."""

from __future__ import annotations

import pytest

from line311.ivr.errors import FlowError
from line311.ivr.flow import LANGUAGES, load_flow, mermaid

HEAD = """
flow: t
version: 1
start: menu
nodes:
  representative: {kind: queue, prompts: [transfer_representative]}
"""
MENU = 'menu: {kind: menu, topic: g, prompts: [main_menu], options: {"1": menu}}'


def flow_text(nodes: str, settings: str = "") -> str:
    text = HEAD + "".join("  " + line + "\n" for line in nodes.strip().splitlines())
    return text + (f"settings: {settings}\n" if settings else "")


@pytest.mark.parametrize(
    ("nodes", "node", "message"),
    [
        ("Menu: {kind: hangup}", "Menu", "lower_snake_case"),
        ("menu: [hangup]", "menu", "a node is a mapping"),
        (
            "menu: {kind: play, prompts: [main_menu], next: ''}",
            "menu",
            "'next' must be a non-empty",
        ),
        ("menu: {kind: play, prompts: [main_menu], next: 3}", "menu", "'next' must be a non-empty"),
        (
            "menu: {kind: play, prompts: [main_menu], next: menu, interruptible: maybe}",
            "menu",
            "'interruptible' must be true or false",
        ),
        ("menu: {kind: queue, priority: high}", "menu", "'priority' must be an integer"),
        ("menu: {kind: queue, priority: true}", "menu", "'priority' must be an integer"),
        ("menu: {kind: play, prompts: [''], next: menu}", "menu", "must be a list of prompt ids"),
        ("menu: {kind: play, prompts: {en: 3}, next: menu}", "menu", "prompts"),
        ("menu: {kind: menu, topic: g, prompts: [main_menu], options: [1]}", "menu", "'options'"),
        (
            'menu: {kind: menu, topic: g, prompts: [main_menu], options: {"12": menu}}',
            "menu",
            "'12' is not a single phone key",
        ),
        (
            'menu: {kind: menu, topic: g, prompts: [main_menu], options: {"1": [menu]}}',
            "menu",
            "option '1' must name a target",
        ),
        (
            "menu: {kind: menu, topic: g, prompts: [main_menu], options: {}}",
            "menu",
            "needs at least one option",
        ),
    ],
)
def test_a_bad_node_is_refused_naming_it(nodes: str, node: str, message: str) -> None:
    with pytest.raises(FlowError, match=message) as info:
        load_flow(flow_text(nodes))
    assert info.value.node == node


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("flow: ''\nversion: 1\nstart: x\nnodes: {}", "'flow' .* must be a non-empty string"),
        ("flow: t\nversion: true\nstart: x\nnodes: {}", "'version' must be an integer"),
        (flow_text(MENU, "[1]"), "'settings' must be a mapping"),
        (flow_text(MENU, "{representative: 3}"), "settings.representative must be a node id"),
        (flow_text(MENU, "{digit_timeout: 0}"), "settings.digit_timeout must be a positive"),
        (flow_text(MENU, "{max_call: fast}"), "settings.max_call must be a positive"),
        (flow_text(MENU, "{lookup_timeout: true}"), "settings.lookup_timeout must be a positive"),
        (flow_text(MENU, "{max_attempts: true}"), "settings.max_attempts must be a positive"),
        (flow_text(MENU, "{colour: red}"), "unknown key.*settings"),
    ],
)
def test_a_bad_document_or_setting_is_refused(text: str, message: str) -> None:
    with pytest.raises(FlowError, match=message):
        load_flow(text)


def test_good_settings_are_taken_with_their_types() -> None:
    flow = load_flow(flow_text(MENU, "{digit_timeout: 4, max_attempts: 2}"))
    assert flow.settings.digit_timeout == 4.0
    assert isinstance(flow.settings.digit_timeout, float)
    assert flow.settings.max_attempts == 2


def test_one_prompt_id_may_be_written_as_a_string_for_every_language() -> None:
    flow = load_flow(
        flow_text('menu: {kind: menu, topic: g, prompts: main_menu, options: {"1": menu}}')
    )
    assert flow.node("menu").prompts == dict.fromkeys(LANGUAGES, ("main_menu",))


def test_mermaid_notes_where_exhausted_entries_go_when_not_the_representative() -> None:
    nodes = (
        MENU
        + "\nbye: {kind: hangup}\nhub: {kind: menu, topic: g, prompts: [main_menu], options: {'1': bye}}"
    )
    nodes = nodes.replace('{"1": menu}', '{"1": hub}')
    flow = load_flow(flow_text(nodes, "{on_exhausted: bye, max_attempts: 2}"))
    text = mermaid(flow)
    assert "%% after 2 invalid/missing entries: bye" in text
    plain = mermaid(load_flow(flow_text(MENU)))
    assert "invalid/missing entries" not in plain
