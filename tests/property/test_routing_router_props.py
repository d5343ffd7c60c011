"""Stateful properties of the Router, checked against an independent oracle.

Hypothesis drives a random floor: CCRs log in and out, pause, answer or miss offers, finish
calls; callers arrive in several languages and priorities, hang up, ask for callbacks; the
clock moves so escalation steps and wrap-ups fire. After every step the machine checks:

* every offer goes to a CCR who satisfies the call's needs *as escalation stands* (computed
  here from the queue definitions, not by the router), or, for an interpreter offer, to an
  English-speaking CCR when the interpreter line is allowed;
* no CCR holds two offers or calls, no call is offered to two CCRs;
* FIFO within equal priority: no equal-needs caller who came earlier is left waiting while a
  later one gets a CCR;
* every waiting call's position is its place by (priority-weighted entry time, arrival), so
  a rejected or timed-out offer puts the call back exactly where it was.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from line311.routing.agents import AgentProfile, AgentState, AutoPausePolicy
from line311.routing.queues import load_queues
from line311.routing.router import Router
from line311.routing.skills import Requirements, SkillSet

WEIGHT = 60.0
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
            "escalation": [
                {"after": 20, "min_proficiency": 1},
                {"after": 40, "add_queues": ["general"], "interpreter": True},
            ],
        },
        "noise": {
            "requires": "topic:noise",
            "max_length": 3,
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
    """Oracle: may ``agent`` take ``call`` (interpreted or not) at ``now``?"""
    q = QUEUES[call.queue]
    applied = q.escalation[: q.steps_at(now - call.entered_at)]
    caps = [s.min_proficiency for s in applied if s.min_proficiency is not None]
    names = [call.queue] + [n for s in applied for n in s.add_queues]
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
    else:
        language = call.language
    for name in names:
        req = QUEUES[name].requires.and_(Requirements.of((f"lang:{language}", 1)))
        if caps:
            req = req.capped(min(caps))
        if req.matches(agent.skills):
            return True
    return False


class RoutingMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.router = Router(
            QUEUES, auto_pause=AutoPausePolicy(after_misses=2), priority_weight=WEIGHT
        )
        self.now = 0.0
        self.arrivals = 0
        self.order: dict[str, tuple[float, int]] = {}
        self.agent_ids: list[str] = []
        self.next_call = 0

    @initialize(skills=st.lists(SKILLS, min_size=1, max_size=6))
    def roster(self, skills):
        for i, levels in enumerate(skills):
            profile = AgentProfile(f"a{i}", f"CCR {i}", f"PJSIP/a{i}", SkillSet(levels))
            self.router.register_agent(profile, self.now)
            self.agent_ids.append(profile.agent_id)

    # ---------------------------------------------------------------- helpers
    def agents_in(self, *states: AgentState) -> list[str]:
        return [a for a in self.agent_ids if self.router.agent(a).state in states]

    def waiting(self):
        return list(self.router.store.calls())

    def reserved(self):
        return [c for c in self.waiting() if c.offered_to is not None]

    # ---------------------------------------------------------------- rules
    @rule(dt=st.sampled_from([0.0, 1.0, 7.0, 25.0]))
    def time_passes(self, dt):
        self.now += dt
        for expired in self.router.tick(self.now):
            self.order.pop(expired.call_id, None)

    @rule(
        queue=st.sampled_from(list(QUEUES)),
        language=st.sampled_from(LANGS),
        priority=st.integers(0, 2),
    )
    def call_arrives(self, queue, language, priority):
        call_id = f"c{self.next_call}"
        self.next_call += 1
        entry = self.router.call_arrived(
            call_id, queue, self.now, language=language, priority=priority
        )
        rank = self.now - WEIGHT * (priority + QUEUES[entry.queue].priority)
        self.order[call_id] = (rank, self.arrivals)
        self.arrivals += 1

    @precondition(lambda self: self.order)
    @rule(data=st.data())
    def caller_hangs_up(self, data):
        call_id = data.draw(st.sampled_from(sorted(self.order)))
        self.router.call_left(call_id, self.now)
        del self.order[call_id]

    @precondition(lambda self: self.order)
    @rule(data=st.data())
    def caller_asks_for_callback(self, data):
        call_id = data.draw(st.sampled_from(sorted(self.order)))
        self.router.request_callback(call_id, self.now)

    @rule(data=st.data())
    def agent_logs_in(self, data):
        choices = self.agents_in(AgentState.LOGGED_OUT)
        if choices:
            self.router.agent_login(data.draw(st.sampled_from(choices)), self.now)

    @rule(data=st.data())
    def agent_logs_out(self, data):
        choices = self.agents_in(
            AgentState.AVAILABLE, AgentState.PAUSED, AgentState.WRAP_UP, AgentState.RESERVED
        )
        if choices:
            self.router.agent_logout(data.draw(st.sampled_from(choices)), self.now)

    @rule(data=st.data())
    def agent_pauses_or_resumes(self, data):
        choices = self.agents_in(AgentState.AVAILABLE, AgentState.PAUSED, AgentState.WRAP_UP)
        if choices:
            agent_id = data.draw(st.sampled_from(choices))
            state = self.router.agent(agent_id).state
            if state is AgentState.PAUSED or (
                state is AgentState.WRAP_UP and data.draw(st.booleans())
            ):
                self.router.agent_resume(agent_id, self.now)
            else:
                self.router.agent_pause(agent_id, self.now, reason="break")

    @rule()
    def decide(self):
        before = {c.call_id for c in self.reserved()}
        busy = set(self.agents_in(AgentState.RESERVED, AgentState.ON_CALL))
        offers = self.router.decide(self.now)
        agents = [o.agent_id for o in offers]
        assert len(agents) == len(set(agents)), offers
        assert not busy & set(agents), (busy, offers)
        for offer in offers:
            assert offer.call_id not in before
            call = self.router.waiting_call(offer.call_id)
            agent = self.router.agent(offer.agent_id)
            assert call.offered_to == offer.agent_id
            assert eligible(self.router, call, agent, offer.interpreter, self.now), (offer, agent)
            assert offer.callback == call.callback
            # FIFO within equal priority and equal needs
            for other in self.waiting():
                if (
                    other.offered_to is None
                    and other.queue == call.queue
                    and other.language == call.language
                    and other.priority == call.priority
                ):
                    assert self.order[other.call_id] > self.order[call.call_id], (other, call)

    @precondition(lambda self: any(c.offered_to for c in self.waiting()))
    @rule(data=st.data(), outcome=st.sampled_from(["accept", "reject", "timeout"]))
    def offer_settled(self, data, outcome):
        call = data.draw(st.sampled_from(sorted(self.reserved(), key=lambda c: c.call_id)))
        agent_id = call.offered_to
        if outcome == "accept":
            self.router.offer_accepted(call.call_id, agent_id, self.now)
            del self.order[call.call_id]
            return
        position = self.router.position(call.call_id)
        if outcome == "reject":
            self.router.offer_rejected(call.call_id, agent_id, self.now)
        else:
            self.router.offer_timeout(call.call_id, agent_id, self.now)
        back = self.router.waiting_call(call.call_id)
        assert back.offered_to is None
        assert back.order_key == call.order_key
        assert self.router.position(call.call_id) == position
        assert self.router.agent(agent_id).state in (AgentState.AVAILABLE, AgentState.PAUSED)

    @rule(data=st.data())
    def call_ends(self, data):
        choices = self.agents_in(AgentState.ON_CALL)
        if choices:
            self.router.call_ended(data.draw(st.sampled_from(choices)), self.now)

    # ---------------------------------------------------------------- invariants
    @invariant()
    def positions_follow_the_oracle_order(self):
        by_queue: dict[str, list[str]] = {}
        for call in self.waiting():
            by_queue.setdefault(call.queue, []).append(call.call_id)
        assert set(self.order) == {c.call_id for c in self.waiting()}
        for ids in by_queue.values():
            ids.sort(key=lambda c: self.order[c])
            assert [self.router.position(c) for c in ids] == list(range(1, len(ids) + 1))

    @invariant()
    def offers_and_agents_agree(self):
        holders: dict[str, str] = {}
        for agent_id in self.agent_ids:
            agent = self.router.agent(agent_id)
            if agent.state in (AgentState.RESERVED, AgentState.ON_CALL):
                assert agent.call_id is not None
                assert agent.call_id not in holders, "two agents hold one call"
                holders[agent.call_id] = agent_id
            elif agent.state is not AgentState.WRAP_UP:  # wrap-up keeps the call it follows
                assert agent.call_id is None
        for call in self.waiting():
            if call.offered_to is not None:
                assert holders.get(call.call_id) == call.offered_to
                assert self.router.agent(call.offered_to).state is AgentState.RESERVED


RoutingMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
TestRoutingStateMachine = RoutingMachine.TestCase
