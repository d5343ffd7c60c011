"""`mapped_errors`: redis-py's exceptions as the live package's, an auth failure named so."""

from __future__ import annotations

import pytest
import redis.exceptions as redis_errors
from redis.asyncio.sentinel import MasterNotFoundError

from line311.live.errors import LiveAuthError, LiveStateError, LiveUnavailableError
from line311.live.routing import mapped_errors


@pytest.mark.parametrize(
    "error",
    [
        redis_errors.AuthenticationError("Authentication required."),
        redis_errors.AuthenticationError("invalid username-password pair"),
        MasterNotFoundError(
            "No master found for 'line311' : Sentinel<host=s1,port=26379> - "
            "AuthenticationError('Authentication required.')"
        ),
    ],
)
async def test_a_refused_password_is_an_authentication_error(error: Exception) -> None:
    with pytest.raises(LiveAuthError, match="session save: Redis authentication failed"):
        async with mapped_errors("session save"):
            raise error


async def test_an_auth_error_is_still_an_outage_to_the_callers() -> None:
    assert issubclass(LiveAuthError, LiveUnavailableError)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (redis_errors.ConnectionError("Connection refused"), LiveUnavailableError),
        (MasterNotFoundError("No master found for 'line311'"), LiveUnavailableError),
        (redis_errors.ResponseError("WRONGTYPE"), LiveStateError),
    ],
)
async def test_other_errors_are_not_called_authentication(
    error: Exception, expected: type[Exception]
) -> None:
    with pytest.raises(expected) as raised:
        async with mapped_errors("seq"):
            raise error
    assert not isinstance(raised.value, LiveAuthError)
    assert "authentication" not in str(raised.value)
