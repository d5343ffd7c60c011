"""The supervisor's settings are checked at start-up, and the stack is built from them."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from rich.console import Console

from line311.commands.supervise import status_table
from line311.config import load_settings
from line311.errors import ConfigError
from line311.live.server import RedisServer
from line311.supervise.policy import Backoff
from line311.supervise.processes import CommandProcess, DaemonProcess
from line311.supervise.stack import backoff_from, stack_processes, status_path
from line311.supervise.status import read_status, write_status


def test_given_a_cap_below_the_first_delay_then_the_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="restart_backoff_max"):
        load_settings(state_dir=tmp_path, restart_backoff_initial=5, restart_backoff_max=1)


def test_given_redis_on_the_controller_port_then_the_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="redis_port"):
        load_settings(state_dir=tmp_path, redis_port=8311, http_port=8311)


def test_the_stack_is_asterisk_redis_bridge_controller_dashboard_each_with_a_log_in_the_state_dir(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path, restart_backoff_initial=0.25)
    procs = stack_processes(settings)
    names = [p.name for p in procs]
    assert names == ["asterisk", "redis", "crm-bridge", "controller", "dashboard"]
    assert isinstance(procs[0], DaemonProcess)
    assert isinstance(procs[1], DaemonProcess)
    redis = procs[1].manager
    assert isinstance(redis, RedisServer)
    assert redis.password == settings.redis_password.get_secret_value() != ""  # requirepass
    bridge, controller = procs[2], procs[3]
    assert isinstance(bridge, CommandProcess)
    assert isinstance(controller, CommandProcess)
    assert bridge.argv == [sys.executable, "-m", "line311", "crm-bridge"]
    assert controller.argv[-1] == "serve"
    assert (controller.rolling, bridge.rolling) == (True, False)  # not the bridge
    dashboard = procs[4]
    assert isinstance(dashboard, CommandProcess)
    assert dashboard.argv == [sys.executable, "-m", "line311", "dashboard"]
    assert dashboard.rolling
    assert dashboard.log_file == tmp_path / "dashboard.log"
    # the dashboard is its own process: the controller leaves it http_port
    assert controller.env is not None
    assert dashboard.env == controller.env
    assert controller.env["LINE311_DASHBOARD_PROCESS"] == "true"
    twin = controller.twin()
    assert twin is not controller
    assert (twin.argv, twin.env, twin.log_file, twin.rolling) == (
        controller.argv, controller.env, controller.log_file, True,
    )  # fmt: skip
    assert twin.pid is None
    assert all(p.log_file.parent == tmp_path for p in procs[1:])
    assert backoff_from(settings) == Backoff(initial=0.25, maximum=30.0, reset_after=60.0)
    assert status_path(settings) == tmp_path / "supervisor.json"


def test_the_status_table_shows_each_process_with_uptime_and_restarts(tmp_path: Path) -> None:
    path = tmp_path / "supervisor.json"
    write_status(
        path,
        {
            "supervisor_pid": os.getpid(),
            "processes": [
                {"name": "controller", "state": "running", "pid": os.getpid(),
                 "started_at": 0.0, "restarts": 1, "last_exit": -9, "log_file": "c.log"},
            ],
        },
    )  # fmt: skip
    console = Console(width=200, record=True)
    console.print(status_table(read_status(path, now=3725.0)))
    text = console.export_text()
    assert "controller" in text
    assert "running" in text
    assert "1h 2m 5s" in text
    assert "-9" in text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", []),
        ("s1:26379", [("s1", 26379)]),
        (" s1:26379 , 10.0.0.2:26380,", [("s1", 26379), ("10.0.0.2", 26380)]),
        ('["s1:26379", "[::1]:26381"]', [("s1", 26379), ("::1", 26381)]),
        # comma-separated, an IPv6 one first: not taken for a JSON list
        ("[::1]:26381,s1:26379", [("::1", 26381), ("s1", 26379)]),
    ],
)
def test_given_sentinels_in_the_environment_then_comma_separated_or_json_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: str, expected: list[tuple[str, int]]
) -> None:
    monkeypatch.setenv("LINE311_REDIS_SENTINELS", raw)
    settings = load_settings(state_dir=tmp_path)
    assert settings.sentinel_addresses == expected
    assert settings.redis_sentinel_master == "line311"


@pytest.mark.parametrize(
    "bad", ["s1", "s1:", ":26379", "s1:0", "s1:65536", "s1:26379:1", "s 1:26379", "a/b:1"]
)
def test_given_a_sentinel_that_is_not_host_port_then_the_settings_are_refused(
    tmp_path: Path, bad: str
) -> None:
    with pytest.raises(
        ConfigError, match=r"redis_sentinels \(LINE311_REDIS_SENTINELS\).*host:port"
    ):
        load_settings(state_dir=tmp_path, redis_sentinels=["s1:26379", bad])


def test_given_sentinels_as_json_that_is_not_valid_then_the_settings_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINE311_REDIS_SENTINELS", '["s1:26379"')
    with pytest.raises(ConfigError, match="JSON"):
        load_settings(state_dir=tmp_path)


def test_given_a_bad_sentinel_master_name_then_the_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="redis_sentinel_master"):
        load_settings(state_dir=tmp_path, redis_sentinel_master="my master")


def test_given_sentinels_then_the_stack_runs_no_redis_server_of_its_own(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, redis_sentinels=["s1:26379"])
    procs = stack_processes(settings)
    assert [p.name for p in procs] == ["asterisk", "crm-bridge", "controller", "dashboard"]
    controller = procs[-2]
    assert isinstance(controller, CommandProcess)
    assert controller.env is not None
    assert controller.env["LINE311_LIVE_STATE"] == "redis"


def test_given_two_ivr_workers_then_the_stack_runs_each_after_the_controller(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path, ivr_workers=2)
    procs = stack_processes(settings)
    names = [p.name for p in procs][-4:]
    assert names == ["controller", "ivr-worker-1", "ivr-worker-2", "dashboard"]
    controller, *workers = procs[-4:-1]
    assert isinstance(controller, CommandProcess)
    for k, worker in enumerate(workers, start=1):
        assert isinstance(worker, CommandProcess)
        assert worker.argv == [*controller.argv, "--worker", str(k)]
        assert worker.argv[-3:] == ["serve", "--worker", str(k)]
        assert worker.log_file == tmp_path / f"ivr-worker-{k}.log"
        assert worker.env == controller.env
        assert worker.rolling


def test_given_no_ivr_workers_by_default_then_the_stack_runs_none(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    assert settings.ivr_workers == 0
    assert not any(p.name.startswith("ivr-worker") for p in stack_processes(settings))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ivr_workers", -1),
        ("ivr_workers", 17),
        ("ivr_worker_max_calls", 0),
        ("ivr_worker_max_calls", 10001),
        ("ivr_worker_http_port_base", 0),
        ("ivr_worker_http_port_base", 65001),
        ("ivr_broadcast_timeout_ms", 49),
        ("ivr_broadcast_timeout_ms", 10001),
    ],
)
def test_given_an_ivr_worker_setting_out_of_range_then_the_settings_are_refused(
    tmp_path: Path, field: str, value: int
) -> None:
    with pytest.raises(ConfigError, match=field):
        load_settings(state_dir=tmp_path, **{field: value})


def test_given_ivr_worker_settings_in_range_then_they_are_kept(tmp_path: Path) -> None:
    settings = load_settings(
        state_dir=tmp_path,
        ivr_workers=16,
        ivr_worker_max_calls=1,
        ivr_worker_http_port_base=9000,
        ivr_broadcast_timeout_ms=50,
    )
    assert (
        settings.ivr_workers,
        settings.ivr_worker_max_calls,
        settings.ivr_worker_http_port_base,
        settings.ivr_broadcast_timeout_ms,
    ) == (16, 1, 9000, 50)
    defaults = load_settings(state_dir=tmp_path)
    assert (defaults.ivr_worker_max_calls, defaults.ivr_worker_http_port_base) == (400, 8320)
    assert defaults.ivr_broadcast_timeout_ms == 500


def test_given_an_ivr_worker_port_taken_by_another_part_then_the_settings_are_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="IVR worker 2's HTTP port"):
        load_settings(
            state_dir=tmp_path, ivr_workers=2, ivr_worker_http_port_base=8310, http_port=8312,
            crm_port=8400,
        )  # fmt: skip


def test_given_a_port_base_then_ivr_worker_k_listens_on_the_base_plus_k(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path, ivr_workers=2, ivr_worker_http_port_base=9000)
    assert [settings.ivr_worker_http_port(k) for k in (1, 2)] == [9001, 9002]


def test_given_a_redis_client_certificate_without_its_key_then_the_settings_are_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="redis_tls_cert_file and redis_tls_key_file"):
        load_settings(state_dir=tmp_path, redis_tls=True, redis_tls_cert_file=tmp_path / "c.pem")


def test_given_the_dashboard_as_its_own_process_then_the_controller_moves_to_its_own_port(
    tmp_path: Path,
) -> None:
    alone = load_settings(state_dir=tmp_path)
    assert (alone.dashboard_process, alone.controller_port) == (False, 8311)
    split = load_settings(state_dir=tmp_path, dashboard_process=True, live_state="redis")
    assert (split.http_port, split.controller_port) == (8311, 8319)
    assert split.controller_url == "http://127.0.0.1:8319"
    anywhere = load_settings(
        state_dir=tmp_path, dashboard_process=True, live_state="redis", http_host="0.0.0.0"
    )
    assert anywhere.controller_url == "http://127.0.0.1:8319"  # reached over loopback
    v6 = load_settings(
        state_dir=tmp_path, dashboard_process=True, live_state="redis", http_host="::1"
    )
    assert v6.controller_url == "http://[::1]:8319"


def test_given_the_dashboard_process_without_redis_or_on_a_taken_port_then_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="dashboard_process needs live_state = redis"):
        load_settings(state_dir=tmp_path, dashboard_process=True)
    with pytest.raises(ConfigError, match="controller_http_port and crm_port"):
        load_settings(
            state_dir=tmp_path, dashboard_process=True, live_state="redis",
            controller_http_port=8312, crm_port=8312,
        )  # fmt: skip


def test_given_queue_legs_in_workers_without_workers_then_the_settings_are_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="queue_legs = workers needs ivr_workers >= 1"):
        load_settings(state_dir=tmp_path, queue_legs="workers")
    with pytest.raises(ConfigError, match="queue_legs"):
        load_settings(state_dir=tmp_path, ivr_workers=1, queue_legs="everywhere")
    assert load_settings(state_dir=tmp_path).queue_legs == "controller"
    assert load_settings(state_dir=tmp_path, ivr_workers=1, queue_legs="workers").queue_legs == (
        "workers"
    )


def test_given_an_unreachable_hold_cap_below_the_first_hold_then_the_settings_are_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="queue_unreachable_hold_max"):
        load_settings(state_dir=tmp_path, queue_unreachable_hold=30, queue_unreachable_hold_max=20)
    settings = load_settings(state_dir=tmp_path)
    assert (settings.queue_unreachable_hold, settings.queue_unreachable_hold_max) == (10, 300)


def test_given_a_qualify_timeout_not_shorter_than_its_frequency_then_the_settings_are_refused(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="agent_qualify_timeout"):
        load_settings(state_dir=tmp_path, agent_qualify_frequency=3, agent_qualify_timeout=3)
    off = load_settings(state_dir=tmp_path, agent_qualify_frequency=0, agent_qualify_timeout=5)
    assert off.agent_qualify_frequency == 0
    shipped = load_settings(state_dir=tmp_path)
    assert (shipped.agent_qualify_frequency, shipped.agent_qualify_timeout) == (30, 3.0)
