"""Pure helpers: status notes fit to be spoken, Open311 form and query parsing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from line311.crm_bridge.catalogue import SEED_SERVICES
from line311.crm_bridge.open311.parse import (
    Open311Error,
    parse_datetime,
    parse_form,
    parse_new_request,
    parse_search,
    search_query,
)
from line311.crm_bridge.open311.render import filed_request_dict, to_xml
from line311.crm_bridge.speech import MAX_SPOKEN, speakable, spoken_digits
from line311.db.service_requests import ServiceRequest
from line311.db.services import Service, ServiceAttribute

CATALOGUE = {s.service_code: s for s in SEED_SERVICES}


def find(code: str) -> Service | None:
    return CATALOGUE.get(code)


def form(**fields: Any) -> dict[str, list[str]]:
    base = {
        "service_code": "pothole",
        "lat": "40.7128",
        "long": "-74.0060",
        "attribute[roadway]": "street",
    }
    base.update(fields)
    return {k: [v] if isinstance(v, str) else v for k, v in base.items() if v is not None}


def test_notes_lose_emails_urls_and_phone_numbers() -> None:
    text = speakable("Call 212-555-0199 or (718) 555 0100, mail a@b.org, see https://x.y/z. Done.")
    assert "555" not in text
    assert "@" not in text
    assert "http" not in text
    assert text.endswith("Done.")


def test_removed_contacts_leave_no_stray_brackets_or_commas() -> None:
    text = speakable("Inspector called resident at (212) 555-0147, jane@example.com. Fixed.")
    assert text == "Inspector called resident at. Fixed."
    text = speakable("Resident (jane@example.com) reached; see https://u@h.example/x, then SR.")
    assert text == "Resident reached; see, then SR."


def test_long_notes_are_cut_at_a_sentence() -> None:
    text = speakable("The crew inspected the site. " * 30)
    assert len(text) <= MAX_SPOKEN
    assert text.endswith(".")


@settings(max_examples=200)
@given(st.text(max_size=2000))
def test_property_spoken_notes_are_bounded_and_hold_no_long_digit_runs(raw: str) -> None:
    text = speakable(raw)
    assert len(text) <= MAX_SPOKEN + 1
    assert "@" not in text
    digits_in_a_row = max((len(run) for run in "".join(
        c if c.isdecimal() else " " for c in text).split()), default=0)  # fmt: skip
    assert digits_in_a_row < 7


def test_sr_numbers_are_read_in_their_printed_groups() -> None:
    assert spoken_digits("311000004273") == "3 1 1, 0 0 0 0 0 4 2 7, 3"


def test_a_phone_becomes_a_caller_hash_and_is_not_kept() -> None:
    new = parse_new_request(form(phone="212 555 0123"), find, lambda p: "hash-of-" + p[-4:])
    assert new.caller_hash == "hash-of-0123"
    assert "212 555 0123" not in repr(new)
    assert new.channel == "ONLINE"
    assert new.attributes == {"roadway": "street"}


def test_number_attributes_are_numbers_and_list_values_are_checked() -> None:
    new = parse_new_request(form(**{"attribute[width_inches]": "12.5"}), find, lambda p: None)
    assert new.attributes["width_inches"] == 12.5
    with pytest.raises(Open311Error, match="must be a number"):
        parse_new_request(form(**{"attribute[width_inches]": "wide"}), find, lambda p: None)
    with pytest.raises(Open311Error, match="takes one value"):
        parse_new_request(
            form(**{"attribute[roadway]": ["street", "highway"]}), find, lambda p: None
        )


def test_datetime_attributes_need_a_timezone() -> None:
    base = {"service_code": "missed-collection", "lat": None, "long": None,
            "attribute[roadway]": None, "address_string": "1 Centre St",
            "attribute[material]": "garbage"}  # fmt: skip
    ok = parse_new_request(
        form(**base, **{"attribute[collection_date]": "2025-01-27T07:00:00-05:00"}),
        find,
        lambda p: None,
    )
    assert ok.attributes["collection_date"] == "2025-01-27T07:00:00-05:00"
    with pytest.raises(Open311Error, match="timezone"):
        parse_new_request(
            form(**base, **{"attribute[collection_date]": "2025-01-27T07:00:00"}),
            find,
            lambda p: None,
        )


def test_an_attribute_that_only_informs_takes_no_input() -> None:
    # GeoReport v2: variable=false "is only used to present information to the user"
    notice = ServiceAttribute(
        "notice", "Do not touch the wires.", datatype="text", required=True, order=2,
        variable=False,
    )  # fmt: skip
    pothole = CATALOGUE["pothole"]
    service = replace(pothole, attributes=(*pothole.attributes, notice))

    def only(code: str) -> Service | None:
        return service if code == "pothole" else None

    assert parse_new_request(form(), only, lambda p: None).attributes == {"roadway": "street"}
    given = form(**{"attribute[notice]": "ok"})
    assert parse_new_request(given, only, lambda p: None).attributes == {"roadway": "street"}


def test_a_form_body_is_percent_decoded_as_utf8() -> None:
    body = b"service_code=pothole&description=caf%C3%A9+ok&x=&x=2&&flag"
    assert parse_form(body, max_fields=10) == {
        "service_code": ["pothole"],
        "description": ["café ok"],
        "x": ["", "2"],
        "flag": [""],
    }


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"service_code=pothole&description=a%FFb", "description is not valid UTF-8"),
        (b"service_code=pothole&address_string=\xff\xfe", "address_string is not valid UTF-8"),
        (b"descr%FFiption=x", "a field name is not valid UTF-8"),
        (b"description=%ED%A0%80", "description is not valid UTF-8"),  # a lone surrogate
    ],
)
def test_a_form_body_that_is_not_utf8_is_refused_naming_the_field(
    body: bytes, fragment: str
) -> None:
    with pytest.raises(Open311Error, match=fragment) as caught:
        parse_form(body, max_fields=10)
    assert caught.value.code == 400


def test_a_form_with_too_many_fields_is_refused() -> None:
    with pytest.raises(Open311Error, match="too many fields"):
        parse_form(b"&".join(b"a=1" for _ in range(11)), max_fields=10)


@pytest.mark.parametrize("raw", ["1_0", "1e1", "nan", "NaN", "infinity", "-inf", "0x10", "١٠"])
def test_coordinates_must_be_plain_decimals(raw: str) -> None:
    with pytest.raises(Open311Error, match="lat is not a decimal number"):
        parse_new_request(form(lat=raw), find, lambda p: None)


@pytest.mark.parametrize(
    ("raw", "value"),
    [("40.7128", 40.7128), ("-40", -40.0), ("+.5", 0.5), ("10.", 10.0), (" 10 ", 10.0)],
)
def test_plain_decimal_coordinates_parse(raw: str, value: float) -> None:
    assert parse_new_request(form(lat=raw), find, lambda p: None).lat == value


@pytest.mark.parametrize("raw", ["1_2", "1e1", "nan"])
def test_number_attributes_must_be_plain_decimals(raw: str) -> None:
    with pytest.raises(Open311Error, match="attribute\\[width_inches\\] must be a number"):
        parse_new_request(form(**{"attribute[width_inches]": raw}), find, lambda p: None)


def test_repeated_single_fields_are_refused() -> None:
    with pytest.raises(Open311Error, match="more than once"):
        parse_new_request(form(service_code=["pothole", "rodents"]), find, lambda p: None)


@pytest.mark.parametrize("raw", ["2025-01-27T14:00:00Z", "2025-01-27T09:00:00-05:00"])
def test_open311_datetimes_with_offsets_parse(raw: str) -> None:
    assert parse_datetime("d", raw).utcoffset() is not None


def test_search_lists_are_comma_separated() -> None:
    params = parse_search({"service_code": "pothole, rodents", "status": "open,closed"})
    assert params.service_codes == ("pothole", "rodents")
    assert params.statuses == ("open", "closed")


def test_search_lists_may_be_declared_more_than_once_and_other_parameters_not() -> None:
    items = [("status", "open"), ("service_code", "pothole"), ("status", "closed"),
             ("service_code", "rodents,noise-street"), ("start_date", "2025-01-01T00:00:00Z")]  # fmt: skip
    params = parse_search(search_query(items))
    assert params.statuses == ("open", "closed")
    assert params.service_codes == ("pothole", "rodents", "noise-street")
    for twice in ("start_date", "end_date", "jurisdiction_id"):
        with pytest.raises(Open311Error, match=f"{twice} given more than once"):
            search_query([(twice, "2025-01-01T00:00:00Z"), (twice, "2025-01-02T00:00:00Z")])
    for twice in ("page", "page_size"):
        with pytest.raises(Open311Error, match=f"{twice} given more than once"):
            search_query([(twice, "1"), (twice, "2")])


def test_given_parameters_this_server_does_not_know_then_a_search_ignores_them() -> None:
    # GeoReport v2 lets servers and clients add their own parameters: Open311 apps send
    # extensions=true, lat/long/radius, paging under other names...
    unknown = [("extensions", "true"), ("lat", "40.7"), ("long", "not-a-number"),
               ("radius", "500"), ("per_page", "x"), ("per_page", "y"), ("sort", "asc")]  # fmt: skip
    known = [("status", "open"), ("service_code", "pothole")]

    assert parse_search(search_query(unknown + known)) == parse_search(search_query(known))
    assert parse_search(search_query(unknown)) == parse_search({})


def test_given_an_unknown_parameter_then_a_bad_known_one_is_still_refused() -> None:
    with pytest.raises(Open311Error, match="status must be open and/or closed"):
        parse_search({"extensions": "true", "status": "pending"})
    with pytest.raises(Open311Error, match="control character"):
        parse_search({"extensions": "tr\x00ue"})


def test_page_and_page_size_page_through_the_answers_newest_first() -> None:
    assert parse_search({}).offset == 0
    assert parse_search({}).page_size == 1000
    params = parse_search({"page": "3", "page_size": "50"})
    assert (params.page, params.page_size, params.offset) == (3, 50, 100)
    assert parse_search({"page": "2"}).offset == 1000  # default page: the spec's 1000
    assert parse_search({"page": "", "page_size": " "}) == parse_search({})


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"page": "0"}, "page must be a whole number"),
        ({"page": "-1"}, "page must be a whole number"),
        ({"page": "1.5"}, "page must be a whole number"),
        ({"page": "two"}, "page must be a whole number"),
        ({"page": "\u0663"}, "page must be a whole number"),  # an Arabic-Indic 3
        ({"page_size": "0"}, "page_size must be a whole number from 1 to 1000"),
        ({"page_size": "1001"}, "page_size must be a whole number from 1 to 1000"),
        ({"page": "101"}, "too deep"),  # 101 pages of 1000
        ({"page": "2001", "page_size": "50"}, "too deep"),
    ],
)
def test_bad_page_values_are_refused(params: dict[str, str], fragment: str) -> None:
    with pytest.raises(Open311Error, match=fragment):
        parse_search(params)


def test_the_deepest_page_allowed_is_accepted() -> None:
    assert parse_search({"page": "100"}).offset == 99_000
    assert parse_search({"page": "2000", "page_size": "50"}).offset == 99_950


def test_search_parameters_given_empty_are_as_if_not_given() -> None:
    # GeoReport v2, "Optional Arguments": an empty parameter is one not declared
    names = ("service_request_id", "service_code", "start_date", "end_date", "status")
    empty = dict.fromkeys((*names, "jurisdiction_id"), "")
    assert parse_search(empty) == parse_search({})
    assert parse_search({"start_date": " ", "status": "open"}) == parse_search({"status": "open"})


def test_xml_lists_are_named_by_their_singular() -> None:
    xml = to_xml("service_requests", [{"service_request_id": "1", "lat": None, "ok": True}])
    assert "<service_requests><request><service_request_id>1</service_request_id>" in xml
    assert "<lat />" in xml or "<lat></lat>" in xml
    assert "<ok>true</ok>" in xml


def test_the_seeded_catalogue_is_consistent() -> None:
    codes = [s.service_code for s in SEED_SERVICES]
    assert len(codes) == len(set(codes)) >= 15
    for service in SEED_SERVICES:
        assert service.agency
        orders = [a.order for a in service.attributes]
        assert len(orders) == len(set(orders)), service.service_code


@pytest.mark.parametrize(
    ("service_type", "identifier"),
    [("realtime", {"service_request_id": "311000000011"}), ("batch", {"token": "tok"}),
     ("blackbox", {})],
)  # fmt: skip
def test_a_filed_request_is_answered_with_its_id_or_its_token_never_both(
    service_type: str, identifier: dict[str, str]
) -> None:
    now = datetime(2025, 1, 27, 14, 0, tzinfo=UTC)
    sr = ServiceRequest(
        sr_number="311000000011", token="tok", service_code="pothole", service_name="Pothole",
        status="open", status_notes=None, description=None, agency_responsible="DOT",
        service_notice="Soon.", requested_at=now, updated_at=now, expected_at=None,
        address=None, address_id="1", zipcode=None, lat=None, long=None, media_url=None,
        channel="ONLINE", attributes={}, caller_hash=None, call_id=None, account_id="a1",
        device_id=None, first_name=None, last_name=None, email=None,
    )  # fmt: skip

    body = filed_request_dict(sr, service_type)

    assert body == {**identifier, "service_notice": "Soon.", "account_id": "a1"}
