"""CCRs at the edge: the roster file, feature codes from CCR phones, and the HTTP API.

Feature codes (dialled from the CCR's own phone; the dialplan hands ``*NN`` to Stasis with
``agent-feature,${EXTEN}``; the calling endpoint says who the CCR is)::

    *71  log in          *72  log out          *73  pause (reason "break")     *74  resume

Each code is confirmed with a short prompt (``agent/logged_in`` ...), or ``agent/refused`` when
the state machine does not allow it (e.g. logging out on a call), and the line is hung up.

The roster is `line311.routing.roster`; the desk's HTTP API is `line311.dashboard.desk`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Mapping

from line311.ari.errors import AriError, AriNotFound
from line311.ari.port import AriPort
from line311.ari.queue_kind import QueueKind
from line311.ari.translate import NewCall
from line311.routing.agents import AgentProfile
from line311.routing.errors import AgentStateError, UnknownAgentError

__all__ = [
    "FEATURE_CODES",
    "AgentDesk",
]

logger = logging.getLogger(__name__)

FEATURE_CODES: Mapping[str, str] = {
    "*71": "login",
    "*72": "logout",
    "*73": "pause",
    "*74": "resume",
}
"""Feature code -> action."""

_CONFIRM = {
    "login": "agent/logged_in",
    "logout": "agent/logged_out",
    "pause": "agent/paused",
    "resume": "agent/resumed",
}
_PROMPT_WAIT = 10.0


def _endpoint_of(channel_name: str) -> str:
    """``PJSIP/agent1-0000000a`` -> ``PJSIP/agent1``."""
    base, sep, _ = channel_name.rpartition("-")
    return base if sep else channel_name


# ---------------------------------------------------------------------- feature codes
class AgentDesk:
    """Handles ``agent-feature`` StasisStarts: a CCR dialled ``*NN`` from their phone."""

    def __init__(
        self,
        ari: AriPort,
        runtime: QueueKind,
        profiles: Iterable[AgentProfile],
        *,
        sounds_uri_prefix: str,
        language: str = "en",
    ) -> None:
        self._ari = ari
        self._runtime = runtime
        self._by_endpoint = {p.endpoint: p.agent_id for p in profiles}
        self._prefix = sounds_uri_prefix.rstrip("/")
        self._language = language

    @property
    def endpoints(self) -> Mapping[str, str]:
        """Each roster CCR's endpoint (``PJSIP/agent1``) -> their agent id."""
        return self._by_endpoint

    def agent_for(self, channel_name: str) -> str | None:
        """The agent whose endpoint placed the channel, if any."""
        return self._by_endpoint.get(_endpoint_of(channel_name))

    def apply(self, agent_id: str, action: str, reason: str = "break") -> None:
        """Run one action on the runtime (raises `UnknownAgentError`, `AgentStateError`)."""
        if action == "login":
            self._runtime.agent_login(agent_id)
        elif action == "logout":
            self._runtime.agent_logout(agent_id)
        elif action == "pause":
            self._runtime.agent_pause(agent_id, reason)
        elif action == "resume":
            self._runtime.agent_resume(agent_id)
        else:
            raise ValueError(f"unknown agent action {action!r}")

    async def on_feature(self, new: NewCall, received_at: float) -> None:
        """The controller's ``agent-feature`` StasisStart handler."""
        code = new.dialed_number
        agent_id = self.agent_for(new.channel_name)
        action = FEATURE_CODES.get(code)
        prompt = "agent/refused"
        if agent_id is None:
            logger.warning("feature code from %s, which is no CCR endpoint", new.channel_name)
        elif action is None:
            logger.info("agent %s dialled unknown feature code %s", agent_id, code)
        else:
            try:
                self.apply(agent_id, action)
            except (AgentStateError, UnknownAgentError) as exc:
                logger.info("agent %s: %s refused (%s)", agent_id, action, exc)
            else:
                logger.info("agent %s: %s by feature code %s", agent_id, action, code)
                prompt = _CONFIRM[action]
        try:
            await self._ari.answer(new.channel_id)
            await self._confirm(new.channel_id, prompt)
        except AriNotFound:
            return
        except AriError as exc:
            logger.warning("feature code confirmation failed: %s", exc)
        with contextlib.suppress(AriError):
            await self._ari.hangup(new.channel_id)

    async def _confirm(self, channel_id: str, prompt: str) -> None:
        playback_id = f"{channel_id}-feature"
        media = f"{self._prefix}/{self._language}/{prompt}"
        async with self._ari.expect("PlaybackFinished", playback_id=playback_id) as done:
            await self._ari.play(channel_id, media, playback_id)
            try:
                await asyncio.wait_for(done, _PROMPT_WAIT)
            except TimeoutError:
                logger.warning("confirmation prompt did not finish in %.0f s", _PROMPT_WAIT)
