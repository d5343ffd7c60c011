"""The SR status the IVR reads out: its dates are the city's days, not UTC's."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from line311.call.srnumber import make_sr_number
from line311.crm_bridge.routes_sr import status_view
from line311.db.sr_values import ServiceRequest

NYC = ZoneInfo("America/New_York")


def stored_sr(requested: datetime, updated: datetime, expected: datetime | None) -> ServiceRequest:
    """An SR as the store returns it: every time in UTC."""
    return ServiceRequest(
        sr_number=make_sr_number(42), token="t", service_code="noise-residential",
        service_name="Noise - Residential", status="open", status_notes=None, description=None,
        agency_responsible="NYPD", service_notice=None, requested_at=requested,
        updated_at=updated, expected_at=expected, address=None, address_id=None, zipcode=None,
        lat=None, long=None, media_url=None, channel="PHONE", attributes={}, caller_hash=None,
        call_id=None, account_id=None, device_id=None, first_name=None, last_name=None,
        email=None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("stored", "local_day"),
    [
        (datetime(2026, 3, 6, 2, 30, tzinfo=UTC), "2026-03-05"),  # 9:30 pm EST the day before
        (datetime(2026, 7, 4, 3, 59, tzinfo=UTC), "2026-07-03"),  # 11:59 pm EDT
        (datetime(2026, 7, 4, 4, 0, tzinfo=UTC), "2026-07-04"),  # midnight EDT
        (datetime(2026, 3, 5, 15, 0, tzinfo=UTC), "2026-03-05"),  # daytime: the same day
    ],
)
def test_given_an_sr_updated_in_the_evening_when_looked_up_then_its_dates_are_new_york_days(
    stored: datetime, local_day: str
) -> None:
    view = status_view(stored_sr(stored, stored, stored), NYC)

    assert (view.requested_date, view.updated_date, view.expected_date) == (local_day,) * 3


def test_given_an_sr_without_an_expected_date_then_none() -> None:
    stored = datetime(2026, 3, 6, 2, 30, tzinfo=UTC)
    assert status_view(stored_sr(stored, stored, None), NYC).expected_date is None
