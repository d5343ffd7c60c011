"""The router on a whole floor over time: restarts, phones, holds, timers and shared CCRs.

`test_routing_router_props` checks each decision against an oracle of skills and order.
This machine adds what a day on a real floor brings on top, and checks the promises that
span them:

* **Controller restarts.** The router is rebuilt as `line311.ari.queue_kind` does it: the
  roster registered, each CCR restored from its saved record (`Agent.to_dict`), each call
  still in line re-entered as of its entry time (a kept callback flagged again), each
  caller in the max-wait offer rebuilt out of line. Every caller keeps their place, in
  their own queue (callbacks taken at max wait can hold it past ``max_length``), and every
  CCR their state and figures: time in each state adding up, calls handled counted once.
* **Phones and holds.** Registrations come and go; offers ring out or cannot ring at all.
  A CCR held ``unreachable`` is back by itself once the longest hold has passed (with
  their phone registered), whatever happened in between, restarts included.
* **Time.** The clock moves by odd fractions too and often lands exactly on the router's
  next deadline; a timer that fires there must not leave the router due again at the same
  instant (an edge that waits for the deadline would spin).
* **Order across queues.** Whoever a CCR is given, no caller ahead of that call (by the
  priority-weighted entry time) whom the same CCR could have taken is left waiting: FIFO
  within equal priority, priority worth its weight, across every queue a CCR serves.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from line311.routing.agents import AgentProfile, AgentState, AutoPausePolicy
from line311.routing.queues import load_queues
from line311.routing.router import Router
from line311.routing.skills import Requirements, SkillSet

WEIGHT = 60.0
HOLD_MAX = 40.0
QUEUES = load_queues(
    {
        "general": {
            "requires": "topic:general",
            "wrapup_seconds": 5,
            "escalation": [{"after": 30, "interpreter": True}],
        },
        "housing": {
            "requires": "topic:housing>=3",
            "wrapup_seconds": 0,
            "priority": 1,
            "max_wait": 90,
            "escalation": [
                {"after": 20.5, "min_proficiency": 1},
                {"after": 45, "add_queues": ["general"], "interpreter": True},
            ],
        },
        "noise": {
            "requires": "topic:noise",
            "max_length": 2,
            "max_wait": 50,
            "overflow": "general",
            "interpreter_when_unstaffed": False,
        },
    }
)
LANGS = ("en", "es", "ru", "ar")
SKILLS = st.dictionaries(
    st.sampled_from(
        ["lang:en", "lang:es", "lang:ru", "topic:general", "topic:housing", "topic:noise"]
    ),
    st.integers(1, 5),
    min_size=1,
)


def eligible(router: Router, call, agent, interpreter: bool, now: float) -> bool:
    """Oracle, from the queue definitions: may ``agent`` take ``call`` (interpreted or not)
    at ``now``? (As `test_routing_router_props.eligible`, over this module's queues.)"""
    q = QUEUES[call.queue]
    applied = [s for s in q.escalation if call.entered_at + s.after <= now]
    caps = [s.min_proficiency for s in applied if s.min_proficiency is not None]
    names = [call.queue] + [n for s in applied for n in s.add_queues]
    language = call.language
    if interpreter:
        speakers = sum(
            1 for a in router.store.logged_in() if a.skills.level(f"lang:{call.language}") > 0
        )
        allowed = any(s.interpreter for s in applied) or (
            q.interpreter_when_unstaffed and speakers == 0
        )
        if not allowed or call.language == "en":
            return False
        language = "en"
    for name in names:
        req = QUEUES[name].requires.and_(Requirements.of((f"lang:{language}", 1)))
        if caps:
            req = req.capped(min(caps))
        if req.matches(agent.skills):
            return True
    return False


def _router() -> Router:
    policy = AutoPausePolicy(after_misses=2, unreachable_hold=10.0, unreachable_hold_max=HOLD_MAX)
    return Router(QUEUES, auto_pause=policy, priority_weight=WEIGHT)


class FloorMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.router = _router()
        self.now = 0.0
        self.profiles: list[AgentProfile] = []
        self.next_call = 0
        self.place: dict[str, tuple[float, int]] = {}
        """Each caller in line: (priority-weighted entry time, arrival order)."""
        self.expired: dict[str, object] = {}
        self.handled: dict[str, int] = {}
        """Calls each CCR finished since signing in (the oracle of ``calls_handled``)."""

    @initialize(skills=st.lists(SKILLS, min_size=1, max_size=5))
    def roster(self, skills):
        for i, levels in enumerate(skills):
            profile = AgentProfile(f"a{i}", f"CCR {i}", f"PJSIP/a{i}", SkillSet(levels))
            self.profiles.append(profile)
            self.router.register_agent(profile, now=self.now)

    # ---------------------------------------------------------------- helpers
    def ids(self, *states: AgentState) -> list[str]:
        return [p.agent_id for p in self.profiles if self.router.agent(p.agent_id).state in states]

    def waiting(self):
        return sorted(self.router.store.calls(), key=lambda c: c.call_id)

    def _expire(self, now: float) -> None:
        for expired in self.router.tick(now):
            self.place.pop(expired.call_id, None)
            self.expired[expired.call_id] = expired

    # ---------------------------------------------------------------- time
    @rule(dt=st.sampled_from([0.0, 0.1, 0.7, 1.0, 3.3, 7.0, 19.9]))
    def time_passes(self, dt):
        self.now += dt
        self._expire(self.now)

    @precondition(lambda self: self.router.next_deadline() is not None)
    @rule()
    def time_reaches_the_next_deadline(self):
        deadline = self.router.next_deadline()
        assert deadline is not None
        self.now = max(self.now, deadline)
        self._expire(self.now)
        after = self.router.next_deadline()
        assert after is None or after > self.now, "a timer fired and is due again at once"

    # ---------------------------------------------------------------- callers
    @rule(
        queue=st.sampled_from(list(QUEUES)),
        language=st.sampled_from(LANGS),
        priority=st.integers(0, 2),
    )
    def call_arrives(self, queue, language, priority):
        # no two callers at the same instant: a restart re-enters calls as of their entry
        # time, and callers who entered at the very same microsecond with the same priority
        # are ordered by when they are re-entered (see `controller_restarts`)
        self.now += 0.001
        call_id = f"c{self.next_call}"
        self.next_call += 1
        entry = self.router.call_arrived(
            call_id, queue, self.now, language=language, priority=priority
        )
        self.place[call_id] = (entry.rank, self.next_call)

    @precondition(lambda self: self.place)
    @rule(data=st.data())
    def caller_hangs_up(self, data):
        call_id = data.draw(st.sampled_from(sorted(self.place)))
        self.router.call_left(call_id, self.now)
        del self.place[call_id]

    @precondition(lambda self: self.place)
    @rule(data=st.data())
    def caller_asks_for_callback(self, data):
        call_id = data.draw(st.sampled_from(sorted(self.place)))
        self.router.request_callback(call_id, self.now)

    @precondition(lambda self: self.expired)
    @rule(data=st.data())
    def expired_caller_takes_a_callback(self, data):
        call_id = data.draw(st.sampled_from(sorted(self.expired)))
        expired = self.expired.pop(call_id)
        entry = self.router.readmit_callback(expired, self.now)  # type: ignore[arg-type]
        self.place[call_id] = (entry.rank, int(call_id[1:]) + 1)

    # ---------------------------------------------------------------- CCRs
    @rule(data=st.data())
    def ccr_logs_in_or_out(self, data):
        agent_id = data.draw(st.sampled_from([p.agent_id for p in self.profiles]))
        state = self.router.agent(agent_id).state
        if state is AgentState.LOGGED_OUT:
            self.router.agent_login(agent_id, self.now)
            self.handled[agent_id] = 0  # counted per sign-in
        elif state is not AgentState.ON_CALL:
            self.router.agent_logout(agent_id, self.now)

    @rule(data=st.data())
    def ccr_pauses_or_resumes(self, data):
        choices = self.ids(AgentState.AVAILABLE, AgentState.PAUSED, AgentState.WRAP_UP)
        if choices:
            agent_id = data.draw(st.sampled_from(choices))
            if self.router.agent(agent_id).state is AgentState.AVAILABLE:
                self.router.agent_pause(agent_id, self.now, reason="break")
            else:
                self.router.agent_resume(agent_id, self.now)

    @rule(data=st.data(), online=st.booleans())
    def phone_registration_changes(self, data, online):
        agent_id = data.draw(st.sampled_from([p.agent_id for p in self.profiles]))
        self.router.phone_state(agent_id, online, self.now)

    @rule()
    def decide(self):
        self._expire(self.now)  # the edge hands out expiries first
        offers = self.router.decide(self.now)
        for offer in offers:
            call = self.router.waiting_call(offer.call_id)
            agent = self.router.agent(offer.agent_id)
            assert not agent.phone_offline
            assert eligible(self.router, call, agent, offer.interpreter, self.now)
            for other in self.waiting():
                if other.offered_to is None and other.order_key < call.order_key:
                    for interpreted in (False, True):
                        assert not eligible(self.router, other, agent, interpreted, self.now), (
                            f"{other.call_id} was ahead of {call.call_id} and "
                            f"{agent.agent_id} could take it"
                        )
        self._expire(self.now)  # what deciding found expired (handed out next)

    @precondition(lambda self: any(c.offered_to for c in self.waiting()))
    @rule(data=st.data(), outcome=st.sampled_from(["accept", "reject", "timeout", "unreachable"]))
    def offer_settled(self, data, outcome):
        offered = [c for c in self.waiting() if c.offered_to is not None]
        call = data.draw(st.sampled_from(offered))
        agent_id = call.offered_to
        if outcome == "accept":
            self.router.offer_accepted(call.call_id, agent_id, self.now)
            del self.place[call.call_id]
        elif outcome == "reject":
            self.router.offer_rejected(call.call_id, agent_id, self.now)
        elif outcome == "timeout":
            self.router.offer_timeout(call.call_id, agent_id, self.now)
        else:
            self.router.offer_unreachable(call.call_id, agent_id, self.now)

    @rule(data=st.data())
    def call_ends(self, data):
        choices = self.ids(AgentState.ON_CALL)
        if choices:
            agent_id = data.draw(st.sampled_from(choices))
            self.router.call_ended(agent_id, self.now)
            self.handled[agent_id] = self.handled.get(agent_id, 0) + 1

    # ---------------------------------------------------------------- restarts
    @rule(data=st.data())
    def controller_restarts(self, data):
        """A new controller, as `QueueKind` rebuilds one: the roster, the saved CCRs, then
        the calls still in line at their entry time. (Calls resumed in another order keep
        their places too, but for callers whose priority-weighted entry times are equal to
        the microsecond: the re-entry order breaks those ties.)"""
        old = self.router
        saved = [old.agent(p.agent_id).to_dict() for p in self.profiles]
        talking = {a.call_id for a in old.store.agents() if a.state is AgentState.ON_CALL}
        live = {c for c in talking if data.draw(st.booleans(), label=f"{c} survives")}
        for agent in old.store.agents():  # a call that died meanwhile ends at the restore
            if agent.state is AgentState.ON_CALL and agent.call_id not in live:
                self.handled[agent.agent_id] = self.handled.get(agent.agent_id, 0) + 1
        calls = sorted(self.waiting(), key=lambda c: c.order_key)
        new = _router()
        for profile in self.profiles:
            new.register_agent(profile, now=self.now)
        for record in saved:
            new.restore_agent(record, self.now, live)
        for call in calls:
            entry = new.call_arrived(
                call.call_id, call.queue, call.entered_at,
                language=call.language, topic=call.topic, priority=call.priority,
                resumed=True,
            )  # fmt: skip
            assert entry.queue == call.queue, "a resumed call moved to another queue"
            if call.callback:
                new.request_callback(call.call_id, self.now)
        for call_id in self.expired:  # their max-wait offer is played again; place kept
            old_entry = self.expired[call_id].entry  # type: ignore[attr-defined]
            self.expired[call_id] = new.expired_again(
                call_id, old_entry.queue, old_entry.entered_at, self.now,
                language=old_entry.language, topic=old_entry.topic,
                priority=old_entry.priority,
            )  # fmt: skip
        self.router = new

    # ---------------------------------------------------------------- a long while
    @rule()
    def phones_back_and_a_long_while_passes(self):
        """Every phone registered, then longer than the longest hold: nobody is still held
        ``unreachable`` or ``phone-offline`` (those come back by themselves)."""
        for profile in self.profiles:
            self.router.phone_state(profile.agent_id, True, self.now)
        self.now += HOLD_MAX + 1
        self._expire(self.now)
        for profile in self.profiles:
            agent = self.router.agent(profile.agent_id)
            assert agent.pause_reason not in ("unreachable", "phone-offline"), agent

    # ---------------------------------------------------------------- invariants
    @invariant()
    def everyone_keeps_their_place(self):
        assert set(self.place) == {c.call_id for c in self.waiting()}
        by_queue: dict[str, list[str]] = {}
        for call in self.waiting():
            by_queue.setdefault(call.queue, []).append(call.call_id)
        for ids in by_queue.values():
            ids.sort(key=lambda c: self.place[c])
            assert [self.router.position(c) for c in ids] == list(range(1, len(ids) + 1))

    @invariant()
    def each_ccrs_figures_add_up(self):
        """Time in each state adds up to the time since the roster was registered (at 0),
        whatever happened (timers fired late, restarts); idle since a time exactly while
        logged in; calls handled count the calls they finished since they signed in."""
        for profile in self.profiles:
            figures = self.router.agent_figures(profile.agent_id, self.now)
            assert figures.state_since <= self.now
            assert abs(sum(figures.time_in_state.values()) - self.now) < 1e-6, figures
            logged_in = figures.state is not AgentState.LOGGED_OUT
            assert (figures.idle_since is not None) is logged_in, figures
            assert figures.calls_handled == self.handled.get(profile.agent_id, 0)

    @invariant()
    def estimates_are_never_negative(self):
        for call in self.waiting():
            estimate = self.router.estimated_wait(call.call_id, self.now)
            assert estimate is None or estimate >= 0


FloorMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=50, deadline=None)
TestFloor = FloorMachine.TestCase


@settings(max_examples=300, deadline=None)
@given(
    entered_at=st.floats(0, 3e9, allow_nan=False),
    afters=st.lists(st.floats(0, 7200, allow_nan=False), min_size=1, max_size=4),
)
def test_each_escalation_step_is_due_at_its_own_timer(entered_at: float, afters: list[float]):
    """The router arms a step's timer at `next_step_at`; when it fires there, that step
    (and every one before it) is due, so the call moves on and the timer is not armed
    again for the same instant."""
    q = load_queues(
        {"q": {"escalation": [{"after": a, "min_proficiency": 1} for a in sorted(afters)]}}
    )["q"]
    for step in range(len(afters)):
        at = q.next_step_at(entered_at, step)
        assert at is not None
        assert q.steps_due(entered_at, at) > step
