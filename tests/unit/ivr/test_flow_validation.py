"""Flow validation, field by field: every malformed node, setting or option is refused with a
message naming what is wrong (and the node, when there is one)."""

from __future__ import annotations

import pytest

from line311.ivr.errors import FlowError
from line311.ivr.flow import LANGUAGES, OtherLanguages, load_flow, mermaid

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


LANGUAGE_NODES = """
menu: {kind: language, prompt: language_option, options: {"1": en}, next: main, other: OTHER}
main: {kind: menu, topic: g, prompts: [main_menu], options: {"1": main}}
interp: {kind: queue, prompts: [transfer_interpreter]}
"""


def language_flow(other: str) -> str:
    return flow_text(LANGUAGE_NODES.replace("OTHER", other))


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ("[interp]", "'other' must be a mapping"),
        ("{prompt: language_other}", "'other' needs next"),
        ("{prompt: language_other, next: interp, colour: red}", "unknown key.*other: colour"),
        ('{key: "12", prompt: language_other, next: interp}', "other.key '12' is not a single"),
        ('{key: "1", prompt: language_other, next: interp}', "'1' is also a language option"),
        ("{prompt: '', next: interp}", "other.prompt must be a non-empty string"),
        ("{prompt: language_other, next: [interp]}", "other.next must be a non-empty string"),
        ("{prompt: language_other, next: nowhere}", "leads to unknown node 'nowhere'"),
        ("{prompt: language_other, next: main}", "other.next must name a queue or transfer"),
    ],
)
def test_a_bad_other_languages_key_is_refused_naming_the_node(other: str, message: str) -> None:
    with pytest.raises(FlowError, match=message) as info:
        load_flow(language_flow(other))
    assert info.value.node == "menu"


def test_other_languages_is_only_for_a_language_node() -> None:
    nodes = (
        "menu: {kind: menu, topic: g, prompts: [main_menu], options: {'1': menu},"
        " other: {prompt: language_other, next: representative}}"
    )
    with pytest.raises(FlowError, match=r"unknown key.*a menu node: other"):
        load_flow(flow_text(nodes))


def test_other_languages_takes_0_unless_told_and_its_queue_is_reachable_only_by_it() -> None:
    flow = load_flow(language_flow("{prompt: language_other, next: interp}"))
    other = flow.node("menu").other
    assert other is not None
    assert (other.key, other.prompt, other.next) == ("0", "language_other", "interp")
    assert "language_other" in flow.prompt_ids()
    keyed = load_flow(language_flow("{key: 5, prompt: language_other, next: interp}"))
    assert keyed.node("menu").other == OtherLanguages("5", "language_other", "interp")


def test_without_other_languages_the_node_has_none_and_its_queue_would_be_unreachable() -> None:
    nodes = LANGUAGE_NODES.replace(", other: OTHER", "")
    with pytest.raises(FlowError, match="unreachable") as info:
        load_flow(flow_text(nodes))
    assert info.value.node == "interp"
    flow = load_flow(flow_text(nodes.replace("interp: {kind: queue", "# interp: {kind: queue")))
    assert flow.node("menu").other is None


def test_the_other_languages_prompt_must_exist_in_english() -> None:
    text = language_flow("{prompt: language_other, next: interp}")
    prompts = load_flow(text).prompt_ids()
    catalogue = dict.fromkeys(prompts, LANGUAGES)
    assert load_flow(text, catalogue=catalogue).node("menu").other is not None
    catalogue["language_other"] = ("es",)
    with pytest.raises(FlowError, match=r"'language_other' missing in language.*: en") as info:
        load_flow(text, catalogue=catalogue)
    assert info.value.node == "menu"
    del catalogue["language_other"]
    with pytest.raises(FlowError, match="unknown prompt id 'language_other'"):
        load_flow(text, catalogue=catalogue)
