"""`ivr_workers`: the dialplan offers a new call to the workers' apps first
(`StasisBroadcast`), the controller's app when none claims it; none without workers."""

from __future__ import annotations

import re
from pathlib import Path

from line311.ari.workers import worker_app
from line311.asterisk.install import Installation
from line311.asterisk.manager import AsteriskManager
from line311.asterisk.render import enter_stasis
from line311.asterisk.render import ivr_worker_filter as worker_filter
from line311.config import Settings, load_settings


def _rendered(tmp_path: Path, settings: Settings, name: str) -> str:
    root = tmp_path / "root"
    (root / "usr/lib/asterisk/modules").mkdir(parents=True, exist_ok=True)
    inst = Installation("chroot", root, "/usr/sbin/asterisk", "/usr/lib/asterisk/modules", "22")
    mgr = AsteriskManager(settings, installation=inst)
    mgr.render()
    return inst.host_path(f"{mgr.instance_dir}/etc/{name}").read_text()


def _enter_context(extensions: str) -> list[str]:
    """The lines of ``[line311-enter]``, up to the next context."""
    lines = extensions.split("[line311-enter]\n", 1)[1].split("\n[", 1)[0]
    return [line for line in lines.splitlines() if line.strip()]


def test_given_no_workers_then_the_call_enters_the_controllers_app_as_before() -> None:
    assert enter_stasis("line311", 0, 500) == " same => n,Stasis(line311,inbound,${EXTEN})"


def test_given_workers_then_the_call_is_broadcast_to_them_and_falls_back_to_the_controller() -> (
    None
):
    lines = enter_stasis("line311", 2, 750).splitlines()
    assert lines == [
        " same => n,StasisBroadcast(750,^line311-w[0-9],inbound:${EXTEN})",
        ' same => n,GotoIf($["${STASISSTATUS}" != "TIMEOUT"]?claimed)',
        " same => n,Stasis(line311,inbound,${EXTEN})",
        " same => n(claimed),NoOp(${STASISSTATUS})",
    ]
    assert f",{worker_filter('line311')}," in lines[0]  # the filter the workers' apps match


def test_given_two_workers_then_the_rendered_dialplan_broadcasts_and_keeps_the_apology(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path, ivr_workers=2)
    lines = _enter_context(_rendered(tmp_path, settings, "extensions.conf"))
    assert lines[0] == "exten => _X.,1,Set(CHANNEL(language)=en)"
    assert lines[3] == " same => n,StasisBroadcast(500,^line311-w[0-9],inbound:${EXTEN})"
    assert " same => n,Stasis(line311,inbound,${EXTEN})" in lines
    assert lines.index(" same => n,Stasis(line311,inbound,${EXTEN})") > 3
    # a failed Stasis (claimed or not) is offered again, then leads to the apology
    assert ' same => n,GotoIf($["${STASISSTATUS}" = "FAILED"]?retry)' in lines
    assert " same => n,Goto(enter)" in lines
    assert " same => n(apology),Answer()" in lines
    assert "{{" not in "\n".join(lines)


def test_given_no_controller_then_the_call_is_offered_again_every_second_ringing_then_the_apology(
    tmp_path: Path,
) -> None:
    settings = load_settings(state_dir=tmp_path)
    lines = _enter_context(_rendered(tmp_path, settings, "extensions.conf"))
    assert lines[:4] == [
        "exten => _X.,1,Set(CHANNEL(language)=en)",
        " same => n,Set(LINE311_TRIES=0)",
        " same => n(enter),NoOp(line311 try ${LINE311_TRIES})",
        " same => n,Stasis(line311,inbound,${EXTEN})",
    ]
    retry = lines.index(" same => n(retry),Set(LINE311_TRIES=$[${LINE311_TRIES} + 1])")
    assert lines[retry + 1 : retry + 6] == [
        " same => n,GotoIf($[${LINE311_TRIES} >= 15]?apology)",
        " same => n,Ringing()",  # unanswered: the caller hears ringing, nothing is billed
        " same => n,Wait(1)",
        " same => n,Goto(enter)",
        " same => n(apology),Answer()",
    ]
    assert lines.index(' same => n,GotoIf($["${STASISSTATUS}" = "FAILED"]?retry)') == 4


def test_given_no_workers_then_the_rendered_dialplan_has_no_broadcast(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path)
    assert settings.ivr_workers == 0
    lines = _enter_context(_rendered(tmp_path, settings, "extensions.conf"))
    assert lines[3] == " same => n,Stasis(line311,inbound,${EXTEN})"
    assert not any("StasisBroadcast" in line for line in lines)


def test_the_workers_apps_match_the_broadcast_filter_and_the_controllers_does_not() -> None:
    pattern = worker_filter("line311")
    assert all(re.search(pattern, worker_app("line311", k)) for k in (1, 2, 9, 16))
    assert re.search(pattern, "line311") is None


def test_asterisk_loads_the_broadcast_modules(tmp_path: Path) -> None:
    modules = _rendered(tmp_path, load_settings(state_dir=tmp_path), "modules.conf")
    loaded = {line.split("=>", 1)[1].strip() for line in modules.splitlines() if "=>" in line}
    assert {"res_stasis_broadcast.so", "app_stasis_broadcast.so"} <= loaded
    assert "noload => res_stasis_broadcast.so" not in modules
