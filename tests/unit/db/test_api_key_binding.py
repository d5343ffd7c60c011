"""Which keys belong to a CCR: an agent_desktop key needs a roster-style CCR id, no other
scope takes one, and a desk key without one is reported as unbound."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from line311.db.api_keys import ApiKey, InvalidApiKey, Scope, check_binding

T0 = datetime(2026, 12, 5, tzinfo=UTC)


def _key(scope: Scope, agent_id: str | None) -> ApiKey:
    return ApiKey(1, "k", scope, "l311_abcdef", None, None, T0, None, agent_id)


@pytest.mark.parametrize("agent_id", ["ana", "agent1", "ccr-1001", "a.b_c:d@e-f", "A" * 64])
def test_given_a_desk_key_with_a_roster_style_ccr_id_then_it_is_accepted(agent_id: str) -> None:
    check_binding(Scope.AGENT_DESKTOP, agent_id)


def test_given_a_desk_key_without_a_ccr_then_it_is_refused_saying_what_to_give() -> None:
    with pytest.raises(InvalidApiKey, match=r"belongs to one CCR.*--agent"):
        check_binding(Scope.AGENT_DESKTOP, None)


@pytest.mark.parametrize(
    "agent_id", ["", " ", "ana smith", "-ana", ".ana", "ana\n", "ana/ben", "é", "A" * 65]
)
def test_given_a_desk_key_with_an_id_the_roster_would_refuse_then_it_is_refused(
    agent_id: str,
) -> None:
    with pytest.raises(InvalidApiKey, match=r"1-64 letters, digits or \. _ : @ -"):
        check_binding(Scope.AGENT_DESKTOP, agent_id)


@pytest.mark.parametrize("scope", [Scope.CONTROLLER, Scope.OPEN311_CLIENT, Scope.ADMIN])
def test_given_another_scope_then_a_ccr_is_refused_and_none_is_fine(scope: Scope) -> None:
    check_binding(scope, None)
    with pytest.raises(
        InvalidApiKey, match=rf"only an agent_desktop key.*{scope} keys take no agent"
    ):
        check_binding(scope, "ana")


def test_given_a_desk_key_without_a_ccr_then_it_is_unbound_and_says_so() -> None:
    legacy = _key(Scope.AGENT_DESKTOP, None)
    assert legacy.unbound
    assert legacy.to_dict()["unbound"] is True
    assert legacy.to_dict()["agent_id"] is None
    bound = _key(Scope.AGENT_DESKTOP, "ana")
    assert not bound.unbound
    assert (bound.to_dict()["agent_id"], bound.to_dict()["unbound"]) == ("ana", False)
    for scope in (Scope.CONTROLLER, Scope.OPEN311_CLIENT, Scope.ADMIN):
        assert not _key(scope, None).unbound
