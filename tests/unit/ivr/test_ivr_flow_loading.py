"""Flow files are validated at load time; every error names the node at fault."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from line311.cli import app
from line311.ivr.catalogue import load_catalogue
from line311.ivr.errors import FlowError
from line311.ivr.flow import (
    LANGUAGES,
    NodeKind,
    builtin_flow,
    default_flow,
    default_flow_path,
    load_flow,
    load_flow_file,
    mermaid,
)

REPO = Path(__file__).resolve().parents[3]
CATALOGUE = load_catalogue(REPO / "content" / "catalogue")

HEAD = """
flow: t
version: 1
start: menu
nodes:
  representative: {kind: queue, prompts: [transfer_representative]}
"""


def flow_text(nodes: str, head: str = HEAD) -> str:
    return head + "".join("  " + line + "\n" for line in nodes.strip().splitlines())


def test_the_shipped_flow_validates_against_the_catalogue():
    flow = default_flow(catalogue=CATALOGUE)
    assert flow.name == "nyc311"
    assert flow.node("language").kind is NodeKind.LANGUAGE
    assert set(flow.node("language").options.values()) == set(LANGUAGES)
    assert not CATALOGUE.missing(flow.prompt_ids())


def test_builtin_flow_is_greeting_then_hangup():
    flow = builtin_flow()
    assert flow.node(flow.start).prompts["en"] == ("greeting",)
    assert flow.node(flow.node(flow.start).next).kind is NodeKind.HANGUP


def test_a_good_small_flow_loads():
    flow = load_flow(
        flow_text('menu: {kind: menu, topic: general, prompts: [main_menu], options: {"1": menu}}'),
        catalogue=CATALOGUE,
    )
    assert flow.node("menu").options == {"1": "menu"}


@pytest.mark.parametrize(
    ("nodes", "node", "message"),
    [
        (
            'menu: {kind: menu, topic: g, prompts: [no_such_prompt], options: {"1": menu}}',
            "menu",
            "unknown prompt id 'no_such_prompt'",
        ),
        (
            'menu: {kind: menu, topic: g, prompts: [main_menu], options: {"1": nowhere}}',
            "menu",
            "unknown node 'nowhere'",
        ),
        (
            'menu: {kind: menu, topic: g, prompts: [main_menu], options: {"1": menu}}\n'
            "lost: {kind: hangup}",
            "lost",
            "unreachable",
        ),
        (
            "menu: {kind: play, prompts: [main_menu], next: again}\n"
            "again: {kind: play, prompts: [main_menu], next: menu}",
            "menu",
            "loop with no exit",
        ),
        (
            "menu:\n  kind: menu\n  topic: g\n  options: {'1': menu}\n  prompts:\n"
            "    en: [main_menu]\n    es: [main_menu]\n    cmn: [main_menu]\n"
            "    yue: [main_menu]\n    ru: [main_menu]\n    ko: [main_menu]",
            "menu",
            r"missing language\(s\): ht",
        ),
        (
            'menu: {kind: menu, topic: g, prompts: [main_menu], options: {"0": menu}}',
            "menu",
            "reserved",
        ),
        ('menu: {kind: menu, prompts: [main_menu], options: {"1": menu}}', "menu", "needs topic"),
        ("menu: {kind: maze}", "menu", "'kind' must be one of"),
        ("menu: {kind: play, prompts: [main_menu], next: menu, colour: red}", "menu", "colour"),
        (
            'menu: {kind: language, prompt: language_option, options: {"1": fr}, next: menu}',
            "menu",
            "unknown language 'fr'",
        ),
    ],
)
def test_bad_flows_are_refused_naming_the_node(nodes, node, message):
    with pytest.raises(FlowError, match=message) as info:
        load_flow(flow_text(nodes), catalogue=CATALOGUE)
    assert info.value.node == node
    assert f"node {node!r}" in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2", "not valid YAML"),
        ("- a list", "a YAML mapping"),
        ("flow: t\nversion: 1\nstart: x\nnodes: {}", "'nodes' must be a non-empty"),
        ("flow: t\nversion: one\nstart: x\nnodes: {}", "'version'"),
        (flow_text("menu: {kind: hangup}").replace("start: menu", "start: nope"), "'start'"),
        (flow_text("menu: {kind: hangup}") + "settings: {max_attempts: 0}\n", "max_attempts"),
        (flow_text("menu: {kind: hangup}") + "settings: {on_exhausted: menu2}\n", "on_exhausted"),
    ],
)
def test_bad_documents_are_refused(text, message):
    with pytest.raises(FlowError, match=message):
        load_flow(text)


def test_representative_must_be_a_terminal_node():
    text = flow_text(
        'menu: {kind: menu, topic: g, prompts: [main_menu], options: {"1": menu}}'
    ).replace(
        "representative: {kind: queue, prompts: [transfer_representative]}",
        "representative: {kind: menu, topic: g, prompts: [main_menu], options: {'1': menu}}",
    )
    with pytest.raises(FlowError, match="must name a queue"):
        load_flow(text)


def test_a_prompt_missing_a_language_in_the_catalogue_is_refused():
    catalogue = dict.fromkeys(CATALOGUE, LANGUAGES)
    catalogue["main_menu"] = ("en",)
    with pytest.raises(FlowError, match="'main_menu' missing in language"):
        load_flow(
            flow_text('menu: {kind: menu, topic: g, prompts: [main_menu], options: {"1": menu}}'),
            catalogue=catalogue,
        )


def test_load_flow_file_names_the_file_and_node(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(flow_text('menu: {kind: menu, topic: g, prompts: [x], options: {"1": zz}}'))
    with pytest.raises(FlowError, match=r"bad\.yaml: node 'menu'") as info:
        load_flow_file(bad)
    assert info.value.node == "menu"
    with pytest.raises(FlowError, match="cannot read"):
        load_flow_file(tmp_path / "missing.yaml")


def test_mermaid_draws_every_node_and_edge():
    text = mermaid(default_flow())
    assert text.startswith("flowchart TD")
    assert 'main -->|"4"| sr_status' in text
    assert 'parking -.->|"0"| representative' in text


def test_cli_validate_and_show(tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["flows", "validate"])
    assert result.exit_code == 0, result.output
    assert "ok: flow 'nyc311'" in result.output
    result = runner.invoke(app, ["flows", "show"])
    assert result.exit_code == 0
    assert "sr_status" in result.output
    result = runner.invoke(app, ["flows", "show", "--mermaid", str(default_flow_path())])
    assert "flowchart TD" in result.output
    result = runner.invoke(app, ["flows", "show", "--states"])
    assert "on_dtmf" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(flow_text('menu: {kind: menu, topic: g, prompts: [nope], options: {"1": menu}}'))
    result = runner.invoke(app, ["flows", "validate", str(bad)])
    assert result.exit_code != 0
