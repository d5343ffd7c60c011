"""Which nodes a pushed alert may target: not a typo, not the greeting, not the alerts node,
and not a node before the language choice for some languages only (shipped flow and small
flows)."""

from __future__ import annotations

import pytest

from line311.call.alerts import PushedAlert
from line311.ivr.alert_nodes import alert_target_nodes, node_refusal, orphaned_alerts
from line311.ivr.flow import default_flow, load_flow

SHIPPED = default_flow()


@pytest.mark.parametrize(
    "node", ["main", "parking", "closures", "sr_status", "referrals", "representative"]
)
def test_given_a_node_after_the_language_choice_then_any_audience_may_be_targeted(
    node: str,
) -> None:
    assert node_refusal(SHIPPED, node) is None
    assert node_refusal(SHIPPED, node, {"es", "ru"}) is None
    assert node in alert_target_nodes(SHIPPED)


def test_given_a_typo_then_it_is_refused_as_unknown_naming_the_flow() -> None:
    refusal = node_refusal(SHIPPED, "parkign")

    assert refusal is not None
    assert refusal.reason == "unknown"
    assert "'nyc311' has no node 'parkign'" in refusal.message


def test_given_the_greeting_then_it_is_refused_saying_an_alert_without_a_node_follows_it() -> None:
    refusal = node_refusal(SHIPPED, "greeting")

    assert refusal is not None
    assert refusal.reason == "start"
    assert "leave the node out" in refusal.message
    assert "greeting" not in alert_target_nodes(SHIPPED)


def test_given_the_alerts_node_then_it_is_refused() -> None:
    refusal = node_refusal(SHIPPED, "alerts")

    assert refusal is not None
    assert refusal.reason == "alerts"
    assert "alerts" not in alert_target_nodes(SHIPPED)


def test_given_the_language_menu_then_every_caller_may_be_targeted_but_not_some_languages() -> None:
    assert node_refusal(SHIPPED, "language") is None
    refusal = node_refusal(SHIPPED, "language", {"es"})

    assert refusal is not None
    assert refusal.reason == "before-language"
    assert "cannot be for es only" in refusal.message
    assert "language" in alert_target_nodes(SHIPPED)


def test_the_shipped_flow_lists_its_nodes_in_order_without_greeting_and_alerts() -> None:
    assert alert_target_nodes(SHIPPED) == [
        n for n in SHIPPED.nodes if n not in ("greeting", "alerts")
    ]


def test_given_a_node_also_reached_after_the_language_choice_then_languages_are_allowed() -> None:
    flow = load_flow(
        """\
flow: twice
version: 1
start: welcome
nodes:
  welcome: {kind: menu, topic: general, prompts: [main_menu], options: {"1": notice, "2": language}}
  language: {kind: language, prompt: language_option, options: {"1": en, "2": es}, next: main}
  main: {kind: menu, topic: general, prompts: [main_menu], options: {"1": notice}}
  notice: {kind: play, prompts: [no_input], next: end}
  end: {kind: hangup}
  representative: {kind: queue, topic: general}
"""
    )

    assert node_refusal(flow, "notice", {"es"}) is None  # also reached after the choice
    assert node_refusal(flow, "representative", {"es"}) is None
    refused = node_refusal(flow, "language", {"es"})
    assert refused is not None
    assert refused.reason == "before-language"
    # welcome is the start: refused whatever the audience
    start = node_refusal(flow, "welcome")
    assert start is not None
    assert start.reason == "start"


def test_given_a_flow_without_a_language_menu_then_languages_may_go_with_any_later_node() -> None:
    flow = load_flow(
        """\
flow: plain
version: 1
start: greeting
nodes:
  greeting: {kind: play, prompts: [greeting], next: main}
  main: {kind: menu, topic: general, prompts: [main_menu], options: {"1": end}}
  end: {kind: hangup}
  representative: {kind: queue, topic: general}
"""
    )

    assert node_refusal(flow, "main", {"es"}) is None
    assert alert_target_nodes(flow) == ["main", "end", "representative"]


def test_given_live_alerts_then_those_whose_node_the_flow_refuses_are_orphaned_with_the_reason() -> (
    None
):
    alerts = [
        PushedAlert("plain"),
        PushedAlert("ok", node="parking"),
        PushedAlert("ok-es", node="parking", languages=frozenset({"es"})),
        PushedAlert("gone", node="parking_rules"),
        PushedAlert("greeting", node="greeting"),
        PushedAlert("before", node="language", languages=frozenset({"es"})),
        PushedAlert("before-all", node="language"),
    ]

    orphans = orphaned_alerts(SHIPPED, alerts)

    assert {k: v.reason for k, v in orphans.items()} == {
        "gone": "unknown",
        "greeting": "start",
        "before": "before-language",
    }
    assert "has no node 'parking_rules'" in orphans["gone"].message
