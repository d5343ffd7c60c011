"""The bounded polls the integration and end-to-end tests wait with."""

from __future__ import annotations

import itertools

import pytest

from tests.fixtures.polling import until, wait_until


def test_wait_until_returns_the_first_truthy_value() -> None:
    values = iter([0, None, "", "ready"])
    assert wait_until(lambda: next(values), 1, "readiness", step=0) == "ready"


def test_wait_until_fails_naming_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match=r"timed out after 0\.05 s waiting for the bridge"):
        wait_until(lambda: False, 0.05, "the bridge", step=0.01)


async def test_until_returns_the_first_truthy_value() -> None:
    counter = itertools.count()
    assert await until(lambda: next(counter) >= 3, 1, "three polls", step=0) is True


async def test_until_fails_naming_what_it_waited_for() -> None:
    with pytest.raises(AssertionError, match="waiting for the disconnect"):
        await until(lambda: 0, 0.05, "the disconnect")
