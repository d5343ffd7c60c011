"""The pure helpers of the issue-13 benchmarks: soak slope and the py-spy summary."""

from __future__ import annotations

import os
from pathlib import Path

from bench._profile import summarise
from bench.soak import slope_per_minute


def test_given_rss_growing_one_mib_a_minute_when_fitted_then_the_slope_is_one():
    points = [(t, 100.0 + t / 60) for t in range(0, 600, 10)]

    assert abs(slope_per_minute(points) - 1.0) < 1e-9


def test_given_flat_or_too_few_samples_when_fitted_then_the_slope_is_zero():
    assert slope_per_minute([(0.0, 5.0), (60.0, 5.0), (120.0, 5.0)]) == 0.0
    assert slope_per_minute([(0.0, 5.0)]) == 0.0


def test_given_collapsed_stacks_when_summarised_then_groups_are_inclusive_and_self_shares(
    tmp_path: Path,
):
    raw = tmp_path / "profile.txt"
    raw.write_text(
        "main (line311/bootstrap.py:1);send (httpx/_client.py:10);write "
        "(asyncio/selector_events.py:5) 3\n"
        "main (line311/bootstrap.py:1);step (line311/ivr/session.py:9) 1\n"
    )

    table = summarise(raw)

    assert table.startswith("4 samples")
    assert "| httpx / httpcore / h11 (REST over HTTP: Asterisk, CRM) | 75.0% | 0.0% |" in table
    assert "| asyncio / uvloop (loop, transports, selector) | 75.0% | 75.0% |" in table
    assert "| line311 pure core (call/ ivr/ routing/ queue/) | 25.0% | 25.0% |" in table


def test_given_per_call_costs_when_modelled_then_each_limit_follows_its_formula():
    from bench.scaling import capacity

    workers, bridge, box = capacity(2, 8, c_ast=10.0, c_ctl=5.0, c_crm=5.0, u=0.5)

    assert (workers, bridge, box) == (200.0, 100.0, 200.0)


def test_given_ivr_workers_when_modelled_then_the_ivr_spreads_over_them_and_the_controller_keeps_the_rest():
    from bench.scaling import _parse, limits

    a = _parse(
        [
            "--worker-ms", "5", "--rest-ms", "1", "--worker-crm-ms", "0.5", "--queued-share",
            "0", "--dashboard-ms", "0.25",
        ]
    )  # fmt: skip
    a.asterisk_ms, a.worker_redis_ms, a.utilisation = 10.0, 0.5, 0.5

    none = limits(0, 8, a)
    two = limits(2, 8, a)

    assert none["workers"] == float("inf")
    assert none["controller"] == 0.5 * 1000 / a.controller_ms
    assert (two["workers"], two["controller"], two["bridge"]) == (200.0, 500.0, 1000.0)
    assert two["dashboard"] == 0.5 * 1000 / 0.25
    assert two["box"] == 0.5 * 8 * 1000 / (10.0 + 5 + 1 + 0.5 + 0.5 + 0.25)


def test_given_a_share_of_queued_calls_when_modelled_then_the_controller_pays_their_queue_work():
    from bench.scaling import _parse, limits

    a = _parse(
        [
            "--controller-ms", "3", "--rest-ms", "1", "--queued-ms", "4", "--queued-ms-w0",
            "6", "--queued-share", "0.5", "--asterisk-ms", "10", "--worker-ms", "5",
            "--crm-ms", "0.5", "--redis-ms", "0.5", "--worker-crm-ms", "0.5",
            "--worker-redis-ms", "0.5", "--utilisation", "0.5", "--dashboard-ms", "0.5",
        ]
    )  # fmt: skip

    none = limits(0, 8, a)
    two = limits(2, 8, a)

    assert none["controller"] == 0.5 * 1000 / (3 + 0.5 * 6)
    assert two["controller"] == 0.5 * 1000 / (1 + 0.5 * 4)
    assert two["workers"] == 2 * 0.5 * 1000 / 5  # the workers' line is the IVR's only
    assert none["box"] == 0.5 * 8 * 1000 / (10 + 3 + 3 + 0.5 + 0.5 + 0.5)
    assert two["box"] == 0.5 * 8 * 1000 / (10 + 5 + 1 + 2 + 0.5 + 0.5 + 0.5)


def test_given_a_share_outside_0_to_1_when_parsed_then_it_is_refused():
    import pytest

    from bench.scaling import _parse

    with pytest.raises(SystemExit):
        _parse(["--queued-share", "1.5"])


def test_given_the_measured_costs_when_the_curve_is_printed_then_each_row_names_its_limit():
    from bench.scaling import run

    text = run(["--cores", "8"])

    assert "| 0 | controller | 8 |" in text
    assert "| 4 | controller | 8 |" in text
    assert "| 4 | workers | 8 |" in text
    assert "what limits it" in text


class _Stamped:
    """A TimedObserver's recorded events, without a socket."""

    def __init__(self, events: list[tuple[dict[str, object], float]]) -> None:
        self.stamped = events

    def timed_snapshot(self) -> list[tuple[dict[str, object], float]]:
        return list(self.stamped)


def _pb(kind: str, state: str, channel: str = "c1") -> dict[str, object]:
    return {"type": kind, "playback": {"target_uri": f"channel:{channel}", "state": state}}


def test_given_prompts_in_a_row_when_gaps_are_read_then_each_end_to_next_start_counts_but_not_across_a_key() -> (
    None
):
    from bench.ivr_mix import _prompt_gaps

    events = [
        (_pb("PlaybackStarted", "playing"), 0.0),
        (_pb("PlaybackContinuing", "continuing"), 1.0),
        (_pb("PlaybackStarted", "playing"), 1.001),  # inside a media list: 1 ms
        (_pb("PlaybackFinished", "done"), 2.0),
        (_pb("PlaybackStarted", "playing"), 2.004),  # the next list: 4 ms
        (_pb("PlaybackFinished", "done"), 3.0),
        ({"type": "ChannelDtmfReceived", "channel": {"id": "c1"}}, 3.1),
        (_pb("PlaybackStarted", "playing"), 3.2),  # after a key: not a gap between prompts
        (_pb("PlaybackFinished", "failed", "c2"), 3.3),
        (_pb("PlaybackStarted", "playing", "c2"), 3.4),  # after a failure: not counted
    ]
    gaps = _prompt_gaps(_Stamped(events))  # type: ignore[arg-type]
    assert [round(g) for g in gaps] == [1, 4]


def test_given_keys_when_key_to_prompt_is_read_then_only_a_prompt_within_2_s_on_that_channel_counts() -> (
    None
):
    from bench.ivr_mix import _dtmf_to_prompt

    key = {"type": "ChannelDtmfReceived", "channel": {"id": "c1"}}
    on_bridge = {"type": "PlaybackStarted", "playback": {"target_uri": "bridge:b"}}
    events = [
        (key, 1.0),
        (_pb("PlaybackStarted", "playing"), 1.003),  # 3 ms after the key
        (_pb("PlaybackStarted", "playing"), 1.5),  # no key before it
        ({"type": "ChannelDtmfReceived", "channel": {"id": "c2"}}, 2.0),
        (on_bridge, 2.1),  # not a channel's prompt
        (_pb("PlaybackStarted", "playing", "c2"), 5.0),  # 3 s later: not the key's answer
    ]
    assert [round(ms) for ms in _dtmf_to_prompt(_Stamped(events))] == [3]  # type: ignore[arg-type]


def test_idle_table_sums_line311s_processes_without_asterisk_and_reads_variants() -> None:
    from bench.idle import SHIPPED, _variants, switches, table

    per = {"asterisk": (4.5, 40.0), "controller": (2.0, 12.0), "redis": (1.5, 11.0)}
    text = table([("shipped", per)])
    assert "| shipped | asterisk | 4.50 | 40 |" in text
    assert "| shipped | **line311 in all** | **3.50** | **23** |" in text
    assert _variants([]) == [("shipped", {"LINE311_LIVE_STATE": "redis"})]
    assert SHIPPED.startswith("shipped:")
    assert _variants(["w2:A=1,B=2"]) == [("w2", {"A": "1", "B": "2"})]
    assert switches(os.getpid()) > 0


def test_given_queue_legs_in_workers_when_modelled_then_the_workers_carry_the_legs_and_the_controller_decides():
    from bench.scaling import _parse, limits

    a = _parse(
        [
            "--rest-ms", "1", "--queued-ms", "4", "--legs-queued-ms", "2",
            "--legs-worker-ms", "6", "--queued-share", "0.5", "--asterisk-ms", "10",
            "--worker-ms", "5", "--worker-crm-ms", "0.5", "--worker-redis-ms", "0.5",
            "--utilisation", "0.5", "--legs-rest-ms", "0.25", "--dashboard-ms", "0.5",
        ]
    )  # fmt: skip

    moved = limits(2, 8, a)
    kept = limits(2, 8, a, legs=True)

    assert kept["controller"] == 0.5 * 1000 / (0.25 + 0.5 * 2)  # the IVR facts, the router
    assert kept["workers"] == 2 * 0.5 * 1000 / (5 + 0.5 * 6)
    assert kept["box"] == 0.5 * 8 * 1000 / (10 + 5 + 3 + 0.25 + 1 + 0.5 + 0.5 + 0.5)
    assert kept["controller"] > moved["controller"]
    assert limits(0, 8, a, legs=True) == limits(0, 8, a)  # no workers: nothing to keep
