"""A fake edge for CallSession tests: a fake clock, and playbacks that finish on demand."""

from __future__ import annotations

from line311.call.commands import Command, Play, StopPlayback
from line311.call.events import (
    Answered,
    DtmfReceived,
    Event,
    PlaybackContinuing,
    PlaybackFinished,
)
from line311.ivr.flow import Flow, default_flow
from line311.ivr.session import CallSession

FLOW = default_flow()

INFO = {
    "asp_today": ["asp_suspended", "say:date:2025-07-04"],
    "collection": ["collection_on_schedule"],
    "school_closures": ["schools_open"],
    "office_closures": ["offices_closed"],
    "holiday_schedule": ["holiday_next", "say:date:2025-09-01"],
}


def prompts_of(play: Play) -> list[tuple[str, str]]:
    """(prompt_id, language) of every prompt one ``Play`` plays, in order (its media list)."""
    return [(play.prompt_id, play.language), *play.then]


class FakeCall:
    """Drives one CallSession like the ARI edge would, with a fake clock."""

    def __init__(self, flow: Flow | None = FLOW, **kwargs: object) -> None:
        self.now = 0.0
        kwargs.setdefault("info", INFO)
        self.s = CallSession("c", "311", self.now, flow=flow, **kwargs)  # type: ignore[arg-type]
        self.sent: list[Command] = []
        self.playing: Play | None = None
        self.pump()

    def pump(self) -> list[Command]:
        cmds = self.s.commands()
        self.sent += cmds
        for c in cmds:
            if isinstance(c, Play):
                self.playing = c
            elif (
                isinstance(c, StopPlayback)
                and self.playing
                and c.playback_id == self.playing.playback_id
            ):
                self.playing = None
        return cmds

    def send(self, event: Event, dt: float = 0.1) -> list[Command]:
        self.now += dt
        self.s.receive(event, self.now)
        return self.pump()

    def wait(self, dt: float) -> list[Command]:
        self.now += dt
        self.s.handle_timer(self.now)
        return self.pump()

    def answer(self) -> list[Command]:
        return self.send(Answered())

    def finish(self) -> list[Command]:
        """The playing list plays to its end: a PlaybackContinuing after each prompt but the
        last (0.5 s apart), as Asterisk sends them, then PlaybackFinished."""
        assert self.playing is not None, "nothing is playing"
        p = self.playing
        for _ in p.then:
            self.send(PlaybackContinuing(p.playback_id), dt=0.5)
        self.playing = None
        return self.send(PlaybackFinished(p.playback_id), dt=1.0)

    def play_through(self) -> list[tuple[str, str]]:
        """Let every prompt play to its end; return (prompt_id, language) of what played."""
        heard = []
        for _ in range(200):
            if self.playing is None:
                return heard
            heard += prompts_of(self.playing)
            self.finish()
        raise AssertionError("prompts never stop")

    def press(self, keys: str) -> list[Command]:
        out: list[Command] = []
        for key in keys:
            out += self.send(DtmfReceived(key))
        return out

    def to_main_menu(self, language_key: str = "1") -> None:
        self.answer()
        self.play_through()  # greeting, alerts, language menu
        self.press(language_key)
        self.play_through()
