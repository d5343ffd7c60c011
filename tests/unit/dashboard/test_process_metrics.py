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


def test_given_an_ivr_worker_when_it_reacts_to_ari_then_its_reaction_times_are_a_histogram() -> (
    None
):
    from line311.dashboard.metrics import REACTION_BUCKETS
    from line311.dashboard.process_metrics import WorkerMetrics

    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry)
    metrics.observe_ari_reaction("play", 0.004)
    metrics.observe_ari_reaction("play", 0.02)
    kind, samples = families(registry)["line311_ari_reaction_seconds"]
    assert kind == "histogram"
    play = (("operation", "play"),)
    assert samples[("line311_ari_reaction_seconds_count", play)] == 2
    # the controller's buckets: the Grafana panel adds both processes' by le
    les = [
        dict(labels)["le"]
        for name, labels in samples
        if name == "line311_ari_reaction_seconds_bucket"
    ]
    assert les == [*(repr(float(b)) for b in REACTION_BUCKETS), "+Inf"]
