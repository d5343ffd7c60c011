"""`line311 alerts create` on SQLite with real espeak-ng: the node is checked against the
configured IVR flow file (exit 2 naming the nodes), and the line printed lists the audio
just synthesised."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from line311.cli import app as cli_app
from line311.db import upgrade

pytestmark = pytest.mark.integration

FLOW = """\
flow: parade
version: 1
start: welcome
nodes:
  welcome: {kind: play, prompts: [greeting], next: alerts}
  alerts: {kind: alerts, next: main}
  main: {kind: menu, topic: general, prompts: [main_menu], options: {"1": parking}}
  parking: {kind: info, topic: parking, info: asp_today}
  representative: {kind: queue, topic: general}
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'line311.db'}"
    upgrade(url)
    flow = tmp_path / "flow.yaml"
    flow.write_text(FLOW)
    return {
        "LINE311_STATE_DIR": str(tmp_path),
        "LINE311_DATABASE_URL": url,
        "LINE311_FLOW_FILE": str(flow),
        "LINE311_ALERTS_TTS_ENGINE": "espeak",
    }


def create(env: dict[str, str], *extra: str) -> tuple[int, str, str]:
    """Exit status, stdout, and stdout with stderr (the usage error, the log lines)."""
    args = ["alerts", "create", "--title", "Parade", "--by", "maria", "--end", "+3h"]
    args += ["--text-en", "Fifth Avenue is closed for the parade until six p m.", *extra]
    result = CliRunner().invoke(cli_app, args, env=env, terminal_width=400)
    return result.exit_code, result.stdout, result.output


def alerts_listed(env: dict[str, str]) -> str:
    return CliRunner().invoke(cli_app, ["alerts", "list"], env=env).stdout


@pytest.mark.parametrize(
    ("node", "says"),
    [
        ("parkng", "the IVR flow 'parade' has no node 'parkng'"),
        ("welcome", "right after the greeting: leave the node out"),
        ("alerts", "where the alerts without a node are played"),
    ],
)
def test_given_a_node_callers_would_not_hear_it_at_when_created_then_exit_2_naming_the_nodes(
    env: dict[str, str], node: str, says: str
) -> None:
    code, _, output = create(env, "--node", node)

    assert code == 2, output
    flat = " ".join(output.replace("│", " ").split())  # the usage box wraps the message
    assert "'--node'" in flat
    assert says in flat
    assert "can target in flow 'parade': main, parking, representative" in flat
    assert alerts_listed(env).strip() == "no alerts"


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_given_typed_text_without_submit_when_created_then_the_line_lists_the_audio_made(
    env: dict[str, str],
) -> None:
    code, stdout, output = create(env, "--node", "parking")

    assert code == 0, output
    lines = stdout.strip().splitlines()
    assert lines[0].startswith("audio en: ")
    assert "draft" in lines[-1]
    assert "audio:en " in lines[-1]  # it said audio:- although the audio had just been made
    alert_id = lines[-1].split()[0]
    shown = CliRunner().invoke(cli_app, ["alerts", "show", alert_id], env=env).stdout
    assert "callers: entering node parking" in shown


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_given_an_alerts_node_taken_out_of_the_flow_file_then_list_and_show_flag_it(
    env: dict[str, str],
) -> None:
    code, stdout, output = create(env, "--node", "parking")
    assert code == 0, output
    alert_id = stdout.strip().splitlines()[-1].split()[0]
    assert "[node not in the flow]" not in alerts_listed(env)
    flow = Path(env["LINE311_FLOW_FILE"])
    flow.write_text(FLOW.replace(', options: {"1": parking}}', ', options: {"1": main}}')
                    .replace("  parking: {kind: info, topic: parking, info: asp_today}\n", ""))  # fmt: skip

    assert "[node not in the flow]" in alerts_listed(env)
    shown = CliRunner().invoke(cli_app, ["alerts", "show", alert_id], env=env).stdout
    assert "node problem (unknown): the IVR flow 'parade' has no node 'parking'" in shown
    assert "approving it is refused while its node is not in the flow" in shown  # a draft
