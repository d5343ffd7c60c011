"""``line311 demo``: simulated residents and CCR phones against the RUNNING stack.

Theory of operation::

    plan (rate, minutes, curve, language and topic mix)
      └─ arrival_times() ─ pure, seeded ─▶ [t0, t1, ...] seconds from the start
    Demo.run()
      1. /health of the running controller (``make run`` in another terminal)
      2. CCR phones: SIPp UAS REGISTERing as agent1..agentN (digest), each with its talk time
      3. CCRs logged in through the desk API (a supervisor bearer token)
      4. at each arrival: one SIPp resident dialling 311, RFC 2833 digits for the language
         (keyed a moment after the language menu starts: `line311.sim.cue` tells each
         resident when, as a fixed time would race the greeting, which no key interrupts),
         then a menu choice (self-service information) or 0 (a CCR), patience for the wait
      5. at the end (or Ctrl-C): no new calls; in-flight calls may finish for a grace period;
         then every SIPp process this demo started is stopped by its PID, the channels it
         left are hung up over ARI, and the CCRs are logged out

Everything the demo needs comes from the same settings as the stack (SIP port, HTTP port,
agent password, ARI credentials). It never touches processes it did not start.
"""

from __future__ import annotations

import logging
import math
import random
import secrets
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import httpx

from line311.config import Settings
from line311.errors import Line311Error
from line311.sim.cue import PromptCue, fleet_cues
from line311.sim.sipp import (
    Cue,
    SippCaller,
    SippPhone,
    Step,
    register_phone,
    start_agent,
    start_caller,
)

__all__ = [
    "CURVES",
    "LANGUAGE_DIGITS",
    "TOPIC_DIGITS",
    "Demo",
    "DemoPlan",
    "arrival_times",
    "parse_mix",
    "resident_script",
]

logger = logging.getLogger(__name__)

LANGUAGE_DIGITS: Final = {
    "en": "1",
    "es": "2",
    "cmn": "3",
    "yue": "4",
    "ru": "5",
    "ko": "6",
    "ht": "7",
}
"""The shipped flow's language menu."""

TOPIC_DIGITS: Final = {
    "ccr": ["0"],  # a representative: the general queue
    "parking": ["1"],  # alternate-side parking today (self-service)
    "sanitation": ["2"],  # collection schedule (self-service)
    "closures": ["3", "1"],  # closures menu, then school closures (self-service)
}
"""Main-menu digits per topic in the shipped flow."""

DEFAULT_LANGUAGES: Final = {"en": 60.0, "es": 25.0, "cmn": 5.0, "ru": 5.0, "ht": 5.0}
DEFAULT_TOPICS: Final = {"ccr": 60.0, "parking": 20.0, "sanitation": 10.0, "closures": 10.0}
DEMO_NUMBER_PREFIX: Final = "555010"  # fictional callers 555-010-xxxx: easy to tell apart


def _flat(_x: float) -> float:
    return 1.0


def _ramp(x: float) -> float:
    return 0.2 + 1.6 * x  # quiet to busy; the mean over the run is 1


def _peak(x: float) -> float:
    return 0.25 + 1.5 * math.sin(math.pi * x) ** 2  # a mid-run rush; mean 1


CURVES: Final[dict[str, Callable[[float], float]]] = {"flat": _flat, "ramp": _ramp, "peak": _peak}
"""Arrival-rate shapes over the run (x from 0 to 1), each with mean 1."""


class DemoError(Line311Error):
    """The demo cannot run (no stack, bad options)."""


def parse_mix(text: str, allowed: Mapping[str, object], what: str) -> dict[str, float]:
    """``"en=60,es=25"`` -> ``{"en": 60.0, "es": 25.0}``; names must be in ``allowed``."""
    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, weight = part.partition("=")
        name = name.strip()
        if not sep or name not in allowed:
            raise DemoError(f"bad {what} {part!r}: use name=weight with names {sorted(allowed)}")
        try:
            value = float(weight)
        except ValueError:
            raise DemoError(f"bad {what} weight in {part!r}") from None
        if value < 0:
            raise DemoError(f"negative {what} weight in {part!r}")
        mix[name] = value
    if not mix or sum(mix.values()) <= 0:
        raise DemoError(f"the {what} mix needs at least one positive weight")
    return mix


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """What the demo does; `arrival_times` and `resident_script` derive the calls from it."""

    calls_per_minute: float = 20.0
    minutes: float = 3.0
    curve: str = "flat"
    languages: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_LANGUAGES))
    topics: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TOPICS))
    agents: int = 4
    talk_seconds: float = 30.0
    patience_seconds: float = 60.0
    grace_seconds: float = 60.0
    seed: int | None = None


def arrival_times(plan: DemoPlan, rng: random.Random) -> list[float]:
    """Poisson arrivals (seconds from the start) whose rate follows ``plan.curve`` (thinning)."""
    shape = CURVES[plan.curve]
    duration = plan.minutes * 60.0
    peak = plan.calls_per_minute / 60.0 * max(shape(i / 100) for i in range(101))
    if duration <= 0 or peak <= 0:
        return []
    times: list[float] = []
    t = 0.0
    while True:
        t += rng.expovariate(peak)
        if t >= duration:
            return times
        rate = plan.calls_per_minute / 60.0 * shape(t / duration)
        if rng.random() * peak <= rate:
            times.append(t)


def _pick(mix: Mapping[str, float], rng: random.Random) -> str:
    names = list(mix)
    return rng.choices(names, weights=[mix[n] for n in names])[0]


@dataclass(frozen=True, slots=True)
class Resident:
    """One simulated caller: the digits they key and how long they stay on the line."""

    language: str
    topic: str
    dtmf: list[Step]
    hold_ms: int


def resident_script(plan: DemoPlan, rng: random.Random) -> Resident:
    """A resident drawn from the plan's language and topic mix."""
    language = _pick(plan.languages, rng)
    topic = _pick(plan.topics, rng)
    dtmf: list[Step] = [(Cue(after_ms=rng.randint(0, 1500)), LANGUAGE_DIGITS[language])]
    dtmf += [(1500 + rng.randint(0, 1000), d) for d in TOPIC_DIGITS[topic]]
    if topic == "ccr":  # wait up to their patience, then (if answered) talk
        hold = rng.expovariate(1 / plan.patience_seconds) + 1.5 * plan.talk_seconds
    else:  # listen to the information, then hang up
        hold = rng.uniform(6, 12)
    return Resident(language, topic, dtmf, int(hold * 1000))


class Demo:
    """Runs one demo against the stack ``settings`` describe (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        plan: DemoPlan,
        token: str,
        workdir: Path,
        *,
        echo: Callable[[str], None] = print,
    ) -> None:
        self.settings = settings
        self.plan = plan
        self.workdir = workdir
        self.echo = echo
        self.rng = random.Random(plan.seed)
        self.base = f"http://{settings.http_host}:{settings.http_port}"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.phones: dict[str, SippPhone] = {}
        self.residents: list[SippCaller] = []
        self.logged_in: list[str] = []
        self.started: dict[str, int] = {}
        self.numbers: set[str] = set()
        self.cues: list[PromptCue] = []

    # ------------------------------------------------------------------ lifecycle
    def run(self, clock: Callable[[], float] = time.monotonic) -> dict[str, int]:
        """Run the plan; always cleans up. Returns calls started per topic."""
        self.check_stack()
        try:
            self.start_cues()
            self.start_ccrs()
            self.place_calls(arrival_times(self.plan, self.rng), clock)
            self.drain(clock)
        finally:
            self.stop()
        return dict(self.started)

    def check_stack(self) -> None:
        try:
            r = httpx.get(self.base + "/health", timeout=3)
            ok = r.status_code == 200 and r.json().get("ari_connected")
        except (httpx.HTTPError, ValueError):
            ok = False
        if not ok:
            raise DemoError(
                f"no running line311 at {self.base} (start it with `make run` in another "
                "terminal, with the same settings)"
            )

    def start_cues(self) -> None:
        """A `PromptCue` on each Asterisk: the residents key their language on it."""
        try:
            self.cues = fleet_cues(self.settings)
        except ConnectionError as exc:
            raise DemoError(f"{exc}: the residents could not hear the language menu") from None

    def start_ccrs(self) -> None:
        password = self.settings.agent_password.get_secret_value()
        count = min(self.plan.agents, self.settings.agent_count)
        for n in range(1, count + 1):
            agent = f"agent{n}"
            talk = self.plan.talk_seconds * self.rng.uniform(0.7, 1.3)
            self.phones[agent] = start_agent(
                self.workdir / agent,
                self.settings.sip_port,
                agent,
                password,
                talk_ms=int(talk * 1000),
                calls=100_000,
            )
            r = self._desk("POST", f"/agents/{agent}/login")
            if r.status_code == 200:
                self.logged_in.append(agent)
            else:
                logger.warning("could not log %s in: %s %s", agent, r.status_code, r.text)
        self.echo(f"{len(self.logged_in)} CCR phones registered and logged in")

    def place_calls(self, arrivals: list[float], clock: Callable[[], float]) -> None:
        start = clock()
        self.echo(f"{len(arrivals)} residents will call over {self.plan.minutes:g} min")
        for n, at in enumerate(arrivals, 1):
            while (wait := start + at - clock()) > 0:
                time.sleep(min(wait, 0.5))
                self._reap()
            resident = resident_script(self.plan, self.rng)
            number = f"{DEMO_NUMBER_PREFIX}{n % 10_000:04d}"
            self.numbers.add(number)
            self.residents.append(
                start_caller(
                    self.workdir / f"resident-{n}",
                    self.settings.sip_port,
                    "311",
                    from_user=number,
                    dtmf=resident.dtmf,
                    hold_ms=resident.hold_ms,
                )
            )
            self.started[resident.topic] = self.started.get(resident.topic, 0) + 1
            logger.info("resident %d: %s, %s", n, resident.language, resident.topic)
        remaining = self.plan.minutes * 60 - (clock() - start)
        if remaining > 0:
            time.sleep(remaining)

    def drain(self, clock: Callable[[], float]) -> None:
        """Let calls in progress end by themselves for up to the grace period."""
        deadline = clock() + self.plan.grace_seconds
        while self._reap() and clock() < deadline:
            time.sleep(0.5)

    def _reap(self) -> int:
        self.residents = [r for r in self.residents if r.proc.poll() is None]
        return len(self.residents)

    def stop(self) -> None:
        """Stop every SIPp this demo started (by PID), hang up what they left, log CCRs out."""
        for resident in self.residents:
            resident.kill()
        self.residents = []
        self._hang_up_leftovers()
        for agent in self.logged_in:
            self._logout(agent)
        for agent, phone in self.phones.items():
            phone.stop()
            self._unregister(agent, phone)
        self._hang_up_leftovers()
        self.logged_in = []
        self.phones = {}
        for cue in self.cues:
            cue.close()
        self.cues = []

    def _unregister(self, agent: str, phone: SippPhone) -> None:
        """Take the stopped phone's registration back (``Expires: 0``): Asterisk would
        otherwise count it registered for an hour, and the stack would offer its CCR calls
        nobody can answer (docs/queues.md, the phones' registrations)."""
        try:
            register_phone(
                self.workdir / agent, self.settings.sip_port, agent,
                self.settings.agent_password.get_secret_value(), phone.local_port, expires=0,
            )  # fmt: skip
        except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
            logger.warning("%s's phone not unregistered: %s", agent, exc)

    def _logout(self, agent: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                r = self._desk("POST", f"/agents/{agent}/logout")
                if r.status_code == 200 or time.monotonic() > deadline:
                    return
            except httpx.HTTPError:
                return  # the stack went away: nothing to log out of
            time.sleep(0.5)  # on a call or in wrap-up: it can log out once that ends

    def _hang_up_leftovers(self) -> None:
        """A killed SIPp sends no BYE: hang up over ARI the channels of this demo's callers
        and phones, so nothing waits for Asterisk's RTP timeout."""
        s = self.settings
        auth = (s.ari_user, s.ari_password.get_secret_value())
        agents = tuple(f"PJSIP/{a}-" for a in self.phones)
        try:
            with httpx.Client(base_url=s.ari_url, auth=auth, timeout=3) as ari:
                for ch in ari.get("/ari/channels").json():
                    number = ch.get("caller", {}).get("number", "")
                    if number in self.numbers or ch.get("name", "").startswith(agents):
                        ari.delete(f"/ari/channels/{ch['id']}")
        except (httpx.HTTPError, ValueError):
            logger.warning("could not hang up the demo's channels over ARI", exc_info=True)

    def _desk(self, method: str, path: str) -> httpx.Response:
        return httpx.request(
            method, self.base + "/api/desk" + path, headers=self.headers, timeout=5
        )


def demo_password(state_dir: Path) -> str:
    """The ``demo`` account's password, generated once and kept (0600) in the state dir."""
    path = state_dir / "demo-password"
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(12)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(password + "\n")
    return password
