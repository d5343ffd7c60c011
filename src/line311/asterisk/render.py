"""Render Asterisk's configuration from the templates in ``asterisk_conf/``.

Templates use ``{{ name }}`` placeholders (Asterisk's own ``${VAR}`` syntax passes through
untouched). An unknown placeholder is an error, not an empty string: a config that silently
lost a value is worse than one that refuses to render. Credentials and ports come from
settings at render time, so no secret is ever committed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from line311.asterisk.errors import AsteriskConfigError

__all__ = [
    "agent_sections",
    "enter_stasis",
    "ivr_worker_filter",
    "render_directory",
    "render_text",
    "write_if_changed",
]

_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


def render_text(template: str, values: Mapping[str, str], *, name: str = "<template>") -> str:
    """Substitute every ``{{ key }}``; raise `AsteriskConfigError` naming unknown keys."""
    missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(template)} - set(values))
    if missing:
        raise AsteriskConfigError(f"{name}: no value for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def agent_sections(count: int, password: str, edge: str = "") -> str:
    """PJSIP sections for CCR phones agent1..agentN (endpoint, aor and digest auth each).

    With an ``edge`` (``host:port`` of Kamailio) the phones register there, not here: each
    aor's contact is then ``sip:agentN@<edge>``, and Kamailio finds the phone (location)."""
    if any(c in password for c in "\n\r;[]"):
        raise AsteriskConfigError("agent_password must not contain newlines, ';' or brackets")
    blocks = []
    for n in range(1, count + 1):
        name = f"agent{n}"
        contact = f"contact = sip:{name}@{edge}\n" if edge else ""
        blocks.append(
            f"[{name}](agent-endpoint)\n"
            f"auth = {name}-auth\n"
            f"aors = {name}\n"
            f"callerid = CCR {n} <{name}>\n\n"
            f"[{name}](agent-aor)\n{contact}\n"
            f"[{name}-auth](agent-auth)\n"
            f"username = {name}\n"
            f"password = {password}\n"
        )
    return "\n".join(blocks)


def ivr_worker_filter(app: str) -> str:
    """StasisBroadcast's app filter: every IVR worker's app (``<app>-w1``..), not the
    controller's; no comma (the dialplan separates StasisBroadcast's arguments with commas)."""
    return f"^{app}-w[0-9]"


def enter_stasis(app: str, workers: int, timeout_ms: int) -> str:
    """The dialplan lines that hand a resident's call to line311.

    No IVR workers: ``Stasis(app,inbound,${EXTEN})``. With workers, the call is offered to
    every worker's app (``StasisBroadcast``; the first to claim it runs its IVR), and when
    none claims it within ``timeout_ms`` the controller's app takes it as before."""
    if workers < 1:
        return f" same => n,Stasis({app},inbound,${{EXTEN}})"
    return (
        f" same => n,StasisBroadcast({timeout_ms},{ivr_worker_filter(app)},inbound:${{EXTEN}})\n"
        ' same => n,GotoIf($["${STASISSTATUS}" != "TIMEOUT"]?claimed)\n'
        f" same => n,Stasis({app},inbound,${{EXTEN}})\n"
        " same => n(claimed),NoOp(${STASISSTATUS})"
    )


def render_directory(src: Path, dest: Path, values: Mapping[str, str]) -> list[Path]:
    """Render every ``*.conf`` template in ``src`` into ``dest``; return the files written.

    Files are only rewritten when their content changes, so a reload sees real changes only.
    Rendered files hold secrets: they are created with mode 0600.
    """
    if not src.is_dir():
        raise AsteriskConfigError(f"template directory {src} does not exist")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for template in sorted(src.glob("*.conf")):
        text = render_text(template.read_text(), values, name=template.name)
        target = dest / template.name
        if write_if_changed(target, text, 0o600):
            written.append(target)
    return written


def write_if_changed(target: Path, text: str, mode: int) -> bool:
    """Replace ``target`` with ``text`` atomically (a temporary file renamed over it), unless
    it already says exactly that; True when written."""
    if target.exists() and target.read_text() == text:
        return False
    tmp = target.with_name(f"{target.name}.line311-tmp.{os.getpid()}")  # writers may race
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(target)
    return True
