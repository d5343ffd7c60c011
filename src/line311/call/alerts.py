"""A pushed alert as one call carries it (pure): what it targets and which audio plays it.

The rules for *when* a call plays an alert live with the IVR (`line311.ivr.alerts`); the
value itself is part of the call vocabulary because the `AlertsChanged` event carries it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["PushedAlert"]


@dataclass(frozen=True, slots=True)
class PushedAlert:
    """One live alert for a call.

    ``languages``: the languages targeted (empty: every language); ``node``: the menu node
    targeted (None: not tied to a node). ``audio`` lists, for each caller language it can
    be played in, ``(caller language, prompt id, language of the audio)``; when empty,
    ``prompt_id`` is played in the caller's language. ``until``: when it stops being live,
    on the session's clock (None: until the edge says otherwise).
    """

    alert_id: str
    prompt_id: str = ""
    languages: frozenset[str] = frozenset()
    node: str | None = None
    audio: tuple[tuple[str, str, str], ...] = ()
    until: float | None = None

    def prompt_for(self, language: str) -> tuple[str, str] | None:
        """(prompt id, audio language) for a caller of ``language``; None: none playable."""
        if not self.audio:
            return (self.prompt_id or self.alert_id, language)
        for caller_language, prompt_id, audio_language in self.audio:
            if caller_language == language:
                return (prompt_id, audio_language)
        return None

    def live(self, now: float) -> bool:
        return self.until is None or now < self.until

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "prompt_id": self.prompt_id,
            "languages": sorted(self.languages),
            "node": self.node,
            "audio": [list(entry) for entry in self.audio],
            "until": self.until,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PushedAlert:
        return cls(
            alert_id=str(data["alert_id"]),
            prompt_id=str(data.get("prompt_id", "")),
            languages=frozenset(str(x) for x in data.get("languages", ())),
            node=None if data.get("node") is None else str(data["node"]),
            audio=tuple((str(a), str(b), str(c)) for a, b, c in data.get("audio", ())),
            until=None if data.get("until") is None else float(data["until"]),
        )
