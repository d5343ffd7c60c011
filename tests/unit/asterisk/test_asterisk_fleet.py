"""`asterisks`: one Asterisk stays exactly as before; N >= 2 get their own ports, dirs and
names behind a Kamailio edge at the public SIP address (issue 14)."""

from __future__ import annotations

from pathlib import Path

from line311.asterisk.fleet import asterisk_fleet, edge_address, systemname, uses_edge
from line311.asterisk.install import Installation
from line311.asterisk.manager import AsteriskManager
from line311.config import Settings, load_settings
from line311.supervise.processes import DaemonProcess
from line311.supervise.stack import stack_processes


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(state_dir=tmp_path, agent_count=2, **overrides)


def _render(tmp_path: Path, settings: Settings) -> str:
    root = tmp_path / "root"
    modules = root / "usr/lib/asterisk/modules"
    modules.mkdir(parents=True, exist_ok=True)
    inst = Installation("chroot", root, "/usr/sbin/asterisk", "/usr/lib/asterisk/modules", "22")
    mgr = AsteriskManager(settings, installation=inst)
    mgr.render()
    return inst.host_path(f"{mgr.instance_dir}/etc/pjsip.conf").read_text()


def test_given_one_asterisk_then_the_fleet_is_the_settings_themselves(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert asterisk_fleet(settings) == [settings]
    assert not uses_edge(settings)


def test_given_one_asterisk_then_pjsip_trusts_loopback_and_agents_register_with_it(
    tmp_path: Path,
) -> None:
    pjsip = _render(tmp_path, _settings(tmp_path))
    assert "match = 127.0.0.0/8\n" in pjsip
    assert "rewrite_contact = no" not in pjsip
    assert "[agent1](agent-aor)\n\n" in pjsip  # no static contact: the phone registers here
    assert "contact = sip:agent" not in pjsip
    assert "qualify_frequency = 30\nqualify_timeout = 3\n" in pjsip  # a dead phone is found


def test_given_one_asterisk_then_the_phones_are_qualified_as_set(tmp_path: Path) -> None:
    pjsip = _render(
        tmp_path, _settings(tmp_path, agent_qualify_frequency=2, agent_qualify_timeout=1.5)
    )
    assert "qualify_frequency = 2\nqualify_timeout = 1.5\n" in pjsip


def test_given_two_asterisks_then_each_has_its_own_instance_ports_and_rtp_slice(
    tmp_path: Path,
) -> None:
    settings = _settings(
        tmp_path, asterisks=2, ari_url="http://127.0.0.1:8088", rtp_port_start=10000
    )
    one, two = asterisk_fleet(settings)
    assert uses_edge(settings)
    assert edge_address(settings) == "127.0.0.1:5060"
    assert (one.asterisk_instance, two.asterisk_instance) == ("main-1", "main-2")
    assert (one.sip_port, two.sip_port) == (5161, 5162)
    assert (one.ari_url, two.ari_url) == ("http://127.0.0.1:8088", "http://127.0.0.1:8089")
    assert one.rtp_port_end < two.rtp_port_start
    assert one.rtp_port_start % 2 == 0
    assert two.rtp_port_start % 2 == 0
    assert one.asterisk_edge == two.asterisk_edge == "127.0.0.1:5060"
    assert one.asterisks == two.asterisks == 1


def test_given_two_asterisks_then_pjsip_trusts_kamailio_and_reaches_agents_through_it(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, asterisks=2)
    pjsip = _render(tmp_path, asterisk_fleet(settings)[1])
    assert "match = 127.0.0.1:5060\n" in pjsip
    assert "bind = 127.0.0.1:5162\n" in pjsip
    assert "rewrite_contact = yes" not in pjsip
    assert "[agent2](agent-aor)\ncontact = sip:agent2@127.0.0.1:5060\n" in pjsip
    # the contact is Kamailio, whose every answer would read reachable: not qualified
    assert "qualify_frequency = 0\n" in pjsip


def test_given_two_asterisks_then_the_stack_runs_kamailio_and_both(tmp_path: Path) -> None:
    procs = stack_processes(_settings(tmp_path, asterisks=2))
    names = [p.name for p in procs]
    assert names == [
        "kamailio",
        "asterisk-1",
        "asterisk-2",
        "redis",
        "crm-bridge",
        "controller",
        "dashboard",
    ]
    assert all(isinstance(p, DaemonProcess) for p in procs[:4])
    assert procs[0].log_file == tmp_path / "kamailio-main.log"
    assert procs[2].log_file == tmp_path / "asterisk-main-2.log"


def test_given_two_asterisks_then_each_names_its_channels_apart_and_both_play_one_library(
    tmp_path: Path,
) -> None:
    """The controller routes REST by the channel id's systemname prefix, and plays prompts
    and published alert audio from one path: both must hold on every server."""
    root = tmp_path / "root"
    (root / "usr/lib/asterisk/modules").mkdir(parents=True)
    inst = Installation("chroot", root, "/usr/sbin/asterisk", "/usr/lib/asterisk/modules", "22")
    seen = []
    for one in asterisk_fleet(_settings(tmp_path, asterisks=2)):
        mgr = AsteriskManager(one, installation=inst)
        mgr.render()
        etc = inst.host_path(f"{mgr.instance_dir}/etc")
        conf = (etc / "asterisk.conf").read_text()
        assert f"systemname = {systemname(one)}\n" in conf
        sounds = [line for line in (etc / "extensions.conf").read_text().splitlines()
                  if line.startswith("LINE311_SOUNDS =")]  # fmt: skip
        seen.append((systemname(one), mgr.sounds_dir, sounds, inst.host_path(mgr.sounds_dir)))
    (one_name, *shared_one), (two_name, *shared_two) = seen
    assert (one_name, two_name) == ("line311-main-1", "line311-main-2")
    assert shared_one == shared_two
    assert shared_one[1] == ["LINE311_SOUNDS = /var/lib/line311/sounds"]
