"""The metrics of the IVR workers, the dashboard process and the controller's optional parts,
parsed back as Prometheus reads them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from line311.dashboard.process_metrics import WallboardProcessCollector


def families(registry: CollectorRegistry) -> dict[str, tuple[str, dict[tuple, float]]]:
    """name -> (type, {labels: value}) of every sample, as Prometheus parses the text."""
    out: dict[str, tuple[str, dict[tuple, float]]] = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for s in family.samples}
        out[family.name] = (family.type, samples)
    return out


def test_given_the_dashboard_process_when_scraped_then_facts_followed_is_a_counter() -> None:
    followed = [0]
    registry = CollectorRegistry()
    registry.register(
        WallboardProcessCollector(
            live_state_up=lambda: True,
            controller_up=lambda: False,
            facts_followed=lambda: followed[0],
            clients=lambda: 3,
        )
    )
    followed[0] = 1234
    got = families(registry)
    # a count since the process started: a counter (rate() over it, reset on restart)
    assert got["line311_wallboard_facts_followed"] == (
        "counter",
        {("line311_wallboard_facts_followed_total", ()): 1234},
    )
    assert got["line311_wallboard_live_state_up"] == (
        "gauge",
        {("line311_wallboard_live_state_up", ()): 1},
    )
    assert got["line311_wallboard_controller_up"] == (
        "gauge",
        {("line311_wallboard_controller_up", ()): 0},
    )
    assert got["line311_wallboard_clients"] == ("gauge", {("line311_wallboard_clients", ()): 3})
