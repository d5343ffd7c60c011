"""The CCR phones' registrations in Kamailio's location table
(`line311.kamailio.registrations`), against a scripted RPC and a real HTTP exchange."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from line311.kamailio.registrations import RegistrationWatch, registered_aors
from line311.kamailio.rpc import KamailioRpc, KamailioRpcError
from tests.fixtures.phone_desk import RecordingDesk


def contact(address: str, expires: object) -> dict[str, object]:
    return {"Contact": {"Address": address, "Expires": expires}}


def aor(name: str, *contacts: dict[str, object]) -> dict[str, object]:
    return {"Info": {"AoR": name, "HashID": 1, "Contacts": list(contacts)}}


def dump(*aors: object) -> dict[str, object]:
    """A full ``ul.dump`` result, shaped as Kamailio 6.1.5's."""
    table = {"Domain": "location", "Size": 1024, "AoRs": list(aors), "Stats": {"Records": 0}}
    return {"Domains": [{"Domain": table}]}


class ScriptedRpc:
    def __init__(self) -> None:
        self.answers: list[Any] = []
        self.calls: list[tuple[str, tuple[str, ...]]] = []

    async def call(self, method: str, *params: str) -> Any:
        self.calls.append((method, params))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def roster(*agents: str) -> dict[str, str]:
    return {f"PJSIP/{a}": a for a in agents}


def test_the_aors_of_a_brief_dump_are_the_registered_ones() -> None:
    """``ul.dump brief`` as Kamailio 6.1.5 answers it (captured)."""
    result = {
        "Domains": [{"Domain": {"Domain": "location", "Size": 1024,
                                "AoRs": [{"AoR": "agent2"}, {"AoR": "agent7@edge"}, {"AoR": 3}],
                                "Stats": {"Records": 2, "Max-Slots": 1}}}]
    }  # fmt: skip
    assert registered_aors(result) == {"agent2", "agent7"}


def test_the_aors_with_a_live_contact_are_the_registered_ones() -> None:
    result = dump(
        aor("agent1", contact("sip:agent1@127.0.0.1:5080", 3590)),
        aor("agent2@edge.example", contact("sip:agent2@10.0.0.2", "permanent")),
        aor("agent3", contact("sip:agent3@127.0.0.1:5082", "expired")),
        aor("agent4", contact("sip:a@h", 0), contact("sip:b@h", 12)),  # one of two is live
        aor("agent5"),  # no contacts
        aor("agent6", contact("sip:x@h", True)),  # not a number of seconds
        {"Info": {"AoR": ""}},
        "junk",
    )
    assert registered_aors(result) == {"agent1", "agent2", "agent4"}


@pytest.mark.parametrize("result", [None, [], {"Domains": "x"}, {"result": 1}])
def test_an_answer_that_is_not_a_dump_is_an_error(result: object) -> None:
    with pytest.raises(KamailioRpcError, match="no Domains"):
        registered_aors(result)


async def test_given_polls_then_only_a_change_of_a_ccr_s_registration_reaches_the_desk(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rpc, desk = ScriptedRpc(), RecordingDesk()
    watch = RegistrationWatch(rpc, desk, roster("agent1", "agent2"), interval=1.0)
    live = contact("sip:p@127.0.0.1:5080", 60)
    rpc.answers = [
        dump(aor("agent1", live), aor("stranger", live)),
        dump(aor("agent1", live)),
        dump(aor("agent2", live)),
    ]
    assert await watch.poll()
    assert desk.told == [("agent1", True), ("agent2", False)]  # the first read tells each
    assert (watch.states.count(True), watch.states.count(False)) == (1, 1)
    assert await watch.poll()
    assert len(desk.told) == 2  # nothing changed, nothing told
    with caplog.at_level(logging.INFO, logger="line311.kamailio.registrations"):
        assert await watch.poll()
    assert desk.told[2:] == [("agent1", False), ("agent2", True)]
    assert watch.states.online("agent1") is False
    assert watch.states.online("agent2") is True
    assert "agent agent1's phone is no longer registered with Kamailio" in caplog.text
    assert rpc.calls == [("ul.dump", ("brief",))] * 3


async def test_given_kamailio_does_not_answer_then_nothing_changes_and_it_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rpc, desk = ScriptedRpc(), RecordingDesk()
    watch = RegistrationWatch(rpc, desk, roster("agent1"))
    rpc.answers = [
        dump(aor("agent1", contact("sip:p@h", 60))),
        KamailioRpcError("ul.dump: ConnectError"),
        KamailioRpcError("ul.dump: ConnectError"),
        dump(),  # read again: a restarted Kamailio has an empty table
    ]
    assert await watch.poll()
    with caplog.at_level(logging.INFO, logger="line311.kamailio.registrations"):
        assert not await watch.poll()
        assert not await watch.poll()
        assert watch.states.online("agent1") is True  # kept as it was
        assert await watch.poll()
    assert caplog.text.count("not read from Kamailio") == 1
    assert "read from Kamailio again" in caplog.text
    assert desk.told == [("agent1", True), ("agent1", False)]
    assert (watch.failures, watch.polls) == (2, 2)


async def test_given_an_agent_the_router_does_not_know_then_the_others_are_still_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rpc, desk = ScriptedRpc(), RecordingDesk()
    watch = RegistrationWatch(rpc, desk, roster("ghost", "agent1"))
    rpc.answers = [dump(aor("ghost", contact("sip:g@h", 5)), aor("agent1", contact("sip:a@h", 5)))]
    assert await watch.poll()
    assert desk.told == [("agent1", True)]
    assert "agent ghost: phone state not applied" in caplog.text


def _rpc_over(handler: httpx.MockTransport) -> KamailioRpc:
    return KamailioRpc("http://127.0.0.1:5070/RPC", token="t0ken-of-the-rpc", transport=handler)


async def test_the_rpc_client_posts_json_rpc_and_returns_the_result() -> None:
    seen: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append(body)
        assert request.headers["Authorization"] == "Bearer t0ken-of-the-rpc"
        return httpx.Response(200, json={"jsonrpc": "2.0", "result": dump(), "id": body["id"]})

    rpc = _rpc_over(httpx.MockTransport(answer))
    try:
        assert await rpc.call("ul.dump", "brief") == dump()
    finally:
        await rpc.aclose()
    assert seen == [{"jsonrpc": "2.0", "method": "ul.dump", "params": ["brief"], "id": 1}]


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (httpx.Response(403, text="RPC from this host or kamailio_rpc_allow only"),
         "HTTP 403 .*add it to kamailio_rpc_allow"),
        (httpx.Response(401, text="send the kamailio_rpc_token as a bearer token"),
         "HTTP 401 .*the same kamailio_rpc_token"),
        (httpx.Response(200, text="<html>"), "not a JSON-RPC answer"),
        (httpx.Response(200, json=[1]), "not a JSON-RPC answer"),
        (httpx.Response(500, json={"error": {"code": 500, "message": "Method Not Found"}}),
         "Method Not Found"),  # as Kamailio 6.1.5 answers it
        (httpx.Response(200, json={"error": "bad"}), "ul.dump: bad"),
        (httpx.Response(200, json={"jsonrpc": "2.0", "id": 1}), "no result"),
    ],
)  # fmt: skip
async def test_a_bad_rpc_answer_is_a_kamailio_rpc_error(
    response: httpx.Response, message: str
) -> None:
    rpc = _rpc_over(httpx.MockTransport(lambda request: response))
    try:
        with pytest.raises(KamailioRpcError, match=message):
            await rpc.call("ul.dump", "brief")
    finally:
        await rpc.aclose()


async def test_a_kamailio_that_is_not_there_is_a_kamailio_rpc_error() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    rpc = _rpc_over(httpx.MockTransport(refuse))
    try:
        with pytest.raises(KamailioRpcError, match=r"ul\.dump: ConnectError"):
            await rpc.call("ul.dump", "brief")
    finally:
        await rpc.aclose()


async def test_given_a_pair_then_the_rpc_reads_the_peer_while_its_kamailio_does_not_answer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = {"a"}
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.host)
        if request.url.host in down:
            raise httpx.ConnectError("connection refused", request=request)
        body = json.loads(request.content)
        return httpx.Response(200, json={"jsonrpc": "2.0", "result": dump(), "id": body["id"]})

    rpc = KamailioRpc(
        "http://a:5070/RPC", token="t0ken-of-the-rpc", fallbacks=["http://b:5070/RPC"],
        transport=httpx.MockTransport(answer),
    )  # fmt: skip
    try:
        with caplog.at_level(logging.WARNING, logger="line311.kamailio.rpc"):
            assert await rpc.call("ul.dump", "brief") == dump()
            assert rpc.url == "http://b:5070/RPC"
            assert await rpc.call("ul.dump", "brief") == dump()  # B kept: A not asked again
        assert asked == ["a", "b", "b"]
        assert caplog.text.count("does not answer") == 1
        down.add("b")  # B gone too: A asked again, and it is back
        down.discard("a")
        assert await rpc.call("ul.dump", "brief") == dump()
        assert (asked[3:], rpc.url) == (["b", "a"], "http://a:5070/RPC")
        down.update({"a", "b"})
        with pytest.raises(KamailioRpcError, match=r"ul\.dump: no Kamailio answers \(http://a"):
            await rpc.call("ul.dump", "brief")
    finally:
        await rpc.aclose()


async def test_given_a_pair_then_an_answer_that_refuses_is_not_passed_on_to_the_peer() -> None:
    asked: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.host)
        return httpx.Response(401, text="send the kamailio_rpc_token as a bearer token\n")

    rpc = KamailioRpc(
        "http://a:5070/RPC", token="t0ken-of-the-rpc", fallbacks=["http://b:5070/RPC"],
        transport=httpx.MockTransport(refuse),
    )  # fmt: skip
    try:
        with pytest.raises(KamailioRpcError, match="HTTP 401"):
            await rpc.call("ul.dump", "brief")
    finally:
        await rpc.aclose()
    assert asked == ["a"]
