"""Properties of the flow engine: callers are never stranded, whatever they press and when."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from line311.call.commands import Enqueue, Hangup, Play, SrLookup, Transfer
from line311.call.events import (
    Answered,
    CallerHungUp,
    DtmfReceived,
    PlaybackFinished,
    SrLookupResult,
)
from line311.call.srnumber import make_sr_number
from line311.ivr.errors import FlowError
from line311.ivr.flow import Flow, default_flow, load_flow
from line311.ivr.session import CallSession, Outcome, State

FLOW = default_flow()
SR = make_sr_number(1234)
INFO = {"asp_today": ["asp_in_effect"], "collection": ["collection_delayed"]}
KEYS = list("0123456789*#")

# What a caller or the edge may do next: press a key, let the current prompt finish, wait,
# hang up, or (the edge) answer an SR lookup.
ACTIONS = st.one_of(
    st.tuples(st.just("key"), st.sampled_from(KEYS)),
    st.tuples(st.just("key"), st.just(SR + "#")),
    st.tuples(st.just("finish"), st.booleans()),
    st.tuples(st.just("wait"), st.floats(0, 30, allow_nan=False)),
    st.tuples(st.just("lookup"), st.sampled_from(["found", "not_found", "unavailable"])),
    st.tuples(st.just("hangup"), st.none()),
)


class Edge:
    def __init__(self, flow: Flow) -> None:
        self.now = 0.0
        self.s = CallSession("p", "311", self.now, flow=flow, info=INFO, alerts=["greeting"])
        self.playing: str | None = None
        self.lookup: str | None = None
        self.sent: list = []
        self.pump()

    def pump(self) -> None:
        for c in self.s.commands():
            self.sent.append(c)
            if isinstance(c, Play):
                self.playing = c.playback_id
            elif isinstance(c, SrLookup):
                self.lookup = c.sr_number

    def advance(self, dt: float) -> None:
        self.now += dt
        self.s.handle_timer(self.now)
        self.pump()

    def act(self, kind: str, arg: object) -> None:
        self.advance(0.05)
        if kind == "key":
            for key in str(arg):
                self.s.receive(DtmfReceived(key), self.now)
        elif kind == "finish" and self.playing:
            self.s.receive(PlaybackFinished(self.playing, failed=False), self.now)
            self.playing = None
        elif kind == "wait":
            self.advance(float(arg))  # type: ignore[arg-type]
        elif kind == "lookup" and self.lookup:
            self.s.receive(SrLookupResult(self.lookup, str(arg), status="open"), self.now)
        elif kind == "hangup":
            self.s.receive(CallerHungUp(), self.now)
        self.pump()

    def run_to_end(self, max_steps: int = 5000) -> None:
        """No more keys: prompts play to their end, timers fire, until the call is over."""
        for _ in range(max_steps):
            if self.s.finished:
                return
            if self.playing and self.s.state is not State.LOOKING_UP:
                self.advance(1.0)
                self.s.receive(PlaybackFinished(self.playing), self.now)
                self.playing = None
                self.pump()
            else:
                deadline = self.s.next_deadline()
                assert deadline is not None, f"stranded in {self.s.state} at {self.s.node}"
                self.advance(max(deadline - self.now, 0.0))
        raise AssertionError(f"call did not end: {self.s.state} at {self.s.node}")


def check_ended_cleanly(edge: Edge, flow: Flow, answered_at: float = 0.0) -> None:
    assert edge.s.finished
    assert isinstance(edge.s.outcome, Outcome)
    rec = edge.s.record()
    assert rec["outcome"] == edge.s.outcome.value
    # Bounded: the stay in the IVR is capped by max_call, plus the goodbye/handoff prompts.
    assert edge.now <= answered_at + flow.settings.max_call + 200
    finals = [i for i, c in enumerate(edge.sent) if isinstance(c, Hangup | Enqueue | Transfer)]
    assert len(finals) <= 1
    if finals:
        assert finals[0] == len(edge.sent) - 1, "a command followed the end of the call"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ACTIONS, max_size=60))
def test_any_dtmf_sequence_with_any_timing_ends_in_a_defined_outcome(actions):
    edge = Edge(FLOW)
    edge.s.receive(Answered(), edge.now)
    edge.pump()
    for kind, arg in actions:
        edge.act(kind, arg)
    edge.run_to_end()
    check_ended_cleanly(edge, FLOW)


# ------------------------------------------------------------------- random flows
NODE_IDS = ["n0", "n1", "n2", "n3", "n4", "n5"]
TERMINALS = {
    "representative": "{kind: queue, prompts: [transfer_representative]}",
    "bye": "{kind: hangup, prompts: [goodbye]}",
    "agency": "{kind: transfer, endpoint: PJSIP/x@y, agency: X}",
}
TARGETS = st.sampled_from(NODE_IDS + list(TERMINALS))


@st.composite
def node_source(draw):
    """One random node: (its YAML, the nodes it leads to)."""
    kind = draw(st.sampled_from(["play", "alerts", "menu", "info", "sr_status", "language"]))
    if kind in ("play", "alerts", "language"):
        target = draw(TARGETS)
        body = {
            "play": "kind: play, prompts: [main_menu]",
            "alerts": "kind: alerts",
            "language": "kind: language, prompt: language_option, options: {'1': en, '2': es}",
        }[kind]
        return f"{{{body}, next: {target}}}", [target]
    if kind == "info":
        info = draw(st.sampled_from(["asp_today", "none"]))
        return f"{{kind: info, topic: t, info: {info}}}", []
    if kind == "sr_status":
        return "{kind: sr_status, topic: sr}", []
    keys = draw(st.lists(st.sampled_from("12345678"), min_size=1, max_size=3, unique=True))
    targets = [draw(TARGETS) for _ in keys]
    options = ", ".join(f"'{k}': {t}" for k, t in zip(keys, targets, strict=True))
    return f"{{kind: menu, topic: t, prompts: [main_menu], options: {{{options}}}}}", targets


@st.composite
def flow_sources(draw):
    """A random flow over n0..n5 and three terminal nodes, keeping only what n0 reaches."""
    nodes = {nid: draw(node_source()) for nid in NODE_IDS}
    nodes.update({tid: (src, []) for tid, src in TERMINALS.items()})
    exhausted = draw(st.sampled_from(list(TERMINALS)))
    keep = {"n0", "representative", exhausted}
    todo = ["n0"]
    while todo:
        for target in nodes[todo.pop()][1]:
            if target not in keep:
                keep.add(target)
                todo.append(target)
    lines = [f"  {nid}: {src}" for nid, (src, _) in nodes.items() if nid in keep]
    return (
        "flow: random\nversion: 1\nstart: n0\n"
        f"settings: {{on_exhausted: {exhausted}, max_attempts: 2, max_call: 300}}\n"
        "nodes:\n" + "\n".join(lines) + "\n"
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow_sources(), st.lists(ACTIONS, max_size=30))
def test_a_flow_that_validates_cannot_strand_a_caller(source, actions):
    try:
        flow = load_flow(source)
    except FlowError:
        assume(False)
        return
    edge = Edge(flow)
    edge.s.receive(Answered(), edge.now)
    edge.pump()
    for kind, arg in actions:
        edge.act(kind, arg)
    edge.run_to_end()
    check_ended_cleanly(edge, flow)
