"""The ``status`` and ``down`` output the asterisk, redis and kamailio commands share."""

from __future__ import annotations

import json
from pathlib import Path

from line311.asterisk.manager import AsteriskStatus
from line311.commands.daemons import down_word, status_json, status_line
from line311.kamailio.manager import Destination, KamailioStatus, Peer
from line311.live.server import RedisStatus


def test_the_json_keeps_every_field_in_order_with_paths_as_text() -> None:
    st = KamailioStatus(
        instance="kamailio-main",
        mode="chroot",
        version="6.0.1",
        pid=42,
        running=True,
        ready=True,
        sip="udp:127.0.0.1:5060",
        destinations=(Destination("sip:127.0.0.1:5070", "AP"),),
        log_file=Path("var/kamailio-main.log"),
        peers=(Peer("10.0.0.12:5090", "active"),),
    )
    assert status_json(st) == json.dumps(
        {
            "instance": "kamailio-main",
            "mode": "chroot",
            "version": "6.0.1",
            "pid": 42,
            "running": True,
            "ready": True,
            "sip": "udp:127.0.0.1:5060",
            "destinations": [{"uri": "sip:127.0.0.1:5070", "flags": "AP"}],
            "log_file": "var/kamailio-main.log",
            "peers": [{"address": "10.0.0.12:5090", "status": "active"}],
        }
    )


def test_the_status_line_says_pid_and_answer_only_while_running() -> None:
    running = RedisStatus(
        instance="main",
        mode="system",
        version="8.0.2",
        pid=7,
        running=True,
        ready=False,
        url="redis://127.0.0.1:6380/0",
        data_dir=Path("var/redis-main"),
        log_file=Path("var/redis-main.log"),
    )
    line = status_line("Redis", running, label="instance main", answers="x not answering")
    assert line == "Redis 8.0.2 (system, instance main): running, pid 7, x not answering"
    stopped = AsteriskStatus(
        instance="main",
        mode="chroot",
        version="22.5.0",
        pid=None,
        running=False,
        ari_ready=False,
        sip="udp:127.0.0.1:5060",
        ari_url="http://127.0.0.1:8088",
        log_file=Path("var/asterisk-main.log"),
    )
    assert json.loads(status_json(stopped))["log_file"] == "var/asterisk-main.log"
    line = status_line("Asterisk", stopped, label="instance main", answers="ARI ready")
    assert line == "Asterisk 22.5.0 (chroot, instance main): stopped"
    assert (down_word(True), down_word(False)) == ("stopped", "not running")
