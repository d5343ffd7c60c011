"""ARI traffic counts and their Prometheus form."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from bench._traffic import parse_ari, per_call, table, tables
from line311.ari.traffic import AriTraffic, TrafficCollector, route_of


def test_a_route_keeps_the_fixed_segments_and_folds_every_id():
    assert route_of("/channels/line311-a-1.2/answer") == "/channels/{id}/answer"
    assert route_of("/channels/c1/play/c1-p3") == "/channels/{id}/play/{id}"
    assert route_of("/bridges/q-c1/addChannel") == "/bridges/{id}/addChannel"
    assert route_of("/recordings/live/take-7/stop") == "/recordings/live/{id}/stop"
    assert route_of("/channels") == "/channels"
    assert route_of("/events/claim") == "/events/claim"
    assert route_of("/applications/line311/eventFilter") == "/applications/{id}/eventFilter"
    assert route_of("/channels/c1") == "/channels/{id}"


def test_the_counts_are_exposed_as_two_counters_and_read_back_by_the_bench():
    traffic = AriTraffic()
    for _ in range(3):
        traffic.heard("StasisStart")
    traffic.heard("PlaybackFinished")
    traffic.sent("POST", "/channels/a/answer")
    traffic.sent("POST", "/channels/b/answer")
    traffic.sent("DELETE", "/channels/b")
    registry = CollectorRegistry()
    registry.register(TrafficCollector(traffic))
    text = generate_latest(registry).decode()
    assert 'line311_ari_events_total{type="StasisStart"} 3.0' in text
    assert 'line311_ari_requests_total{method="POST",route="/channels/{id}/answer"} 2.0' in text
    assert parse_ari(text) == {
        "event StasisStart": 3,
        "event PlaybackFinished": 1,
        "POST /channels/{id}/answer": 2,
        "DELETE /channels/{id}": 1,
    }


def test_per_call_keeps_what_grew_and_the_table_totals_each_column():
    before = {"event StasisStart": 10, "POST /channels/{id}/answer": 4}
    after = {"event StasisStart": 30, "POST /channels/{id}/answer": 4, "GET /channels": 5}
    counts = per_call(before, after, 10)
    assert counts == {"event StasisStart": 2.0, "GET /channels": 0.5}
    assert per_call(before, after, 0) == {}
    text = table({"w0": counts, "w2": {"GET /channels": 1.0}})
    assert text.splitlines()[2] == "| `event StasisStart` | 2.00 | 0.00 |"
    assert text.splitlines()[-1] == "| **total** | **2.5** | **1.0** |"


def test_the_desk_links_counts_are_read_back_and_tabled_apart_from_ari() -> None:
    text = (
        'line311_ari_events_total{type="StasisStart"} 2.0\n'
        'line311_desk_messages_total{direction="sent",kind="cmd"} 6.0\n'
        'line311_desk_messages_total{direction="received",kind="event"} 4.0\n'
        'line311_desk_link_entries_total{direction="read"} 3.0\n'
    )
    counts = parse_ari(text)
    assert counts == {
        "event StasisStart": 2,
        "desk sent cmd": 6,
        "desk received event": 4,
        "desk entries read": 3,
    }
    out = tables({"w2q": {"ivr-worker-1 ARI": per_call({}, counts, 2)}}, "queued call")
    ari, desk = out.split("Desk link messages")
    assert "| **total** | **1.0** |" in ari
    assert "desk" not in ari.split("|---|")[1]
    assert "| `sent cmd` | 3.00 |" in desk
    assert "| `entries read` | 1.50 |" in desk
