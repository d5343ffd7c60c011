"""Which callers are confined to one CCR, and the 403 that keeps them there."""

from __future__ import annotations

import pytest

from line311.crm_bridge.auth import Principal, refuse_other_agent
from line311.crm_bridge.errors import ApiError
from line311.db.api_keys import Scope


def _who(scope: Scope, agent_id: str | None = None) -> Principal:
    return Principal("7", "k", scope, 20.0, 60, agent_id)


def test_given_a_bound_desk_key_then_it_is_confined_to_its_ccr() -> None:
    assert _who(Scope.AGENT_DESKTOP, "ana").desk_agent == "ana"


@pytest.mark.parametrize(
    "who",
    [
        _who(Scope.AGENT_DESKTOP),  # unbound: made before keys were bound
        _who(Scope.CONTROLLER),
        _who(Scope.ADMIN),
        _who(Scope.OPEN311_CLIENT),
        _who(Scope.ADMIN, "ana"),  # never stored, but a CCR binds only a desk key
    ],
)
def test_given_any_other_caller_then_it_is_not_confined(who: Principal) -> None:
    assert who.desk_agent is None
    refuse_other_agent(who, "ben", "calls")


def test_given_a_bound_desk_key_when_it_names_another_ccr_then_403_forbidden() -> None:
    ana = _who(Scope.AGENT_DESKTOP, "ana")
    refuse_other_agent(ana, "ana", "screen pops")
    with pytest.raises(ApiError) as refused:
        refuse_other_agent(ana, "ben", "screen pops")
    assert (refused.value.status, refused.value.error_id) == (403, "forbidden")
    assert refused.value.message == (
        "a desk key reads only its own CCR's screen pops (this key belongs to 'ana')"
    )
    with pytest.raises(ApiError):
        refuse_other_agent(ana, "Ana", "calls")  # ids are exact, as in call records
