"""Open311 GeoReport v2 under /open311/v2/, JSON and XML, on SQLite and PostgreSQL."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from line311.call.srnumber import validate_sr_number
from line311.config import Settings
from line311.crm_bridge.app import create_app
from line311.crm_bridge.catalogue import SEED_SERVICES
from line311.crm_bridge.open311.parse import parse_datetime
from line311.crm_bridge.open311.render import request_dict
from line311.db.engine import make_session_factory
from line311.db.service_requests import NewServiceRequest, ServiceRequestStore
from line311.db.services import ServiceCatalogue

from .conftest import API_KEY, OPEN311_KEY, T0

pytestmark = pytest.mark.integration

BASE = "/open311/v2"


def heat_form(**changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "api_key": OPEN311_KEY,
        "service_code": "heat-hot-water",
        "address_string": "350 5th Ave, New York, NY",
        "description": "No heat since yesterday evening.",
        "attribute[problem]": "no_heat",
        "attribute[scope]": "entire_building",
        "attribute[apartment]": "4B",
        "first_name": "Ada",
        "email": "ada@example.org",
        "phone": "212-555-0123",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


async def file_request(api: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await api.post(f"{BASE}/requests.json", data=heat_form(**changes))
    assert response.status_code == 201, response.text
    (body,) = response.json()
    return dict(body)


GEOREPORT_V2 = "http://wiki.open311.org/GeoReport_v2"


async def test_the_discovery_document_names_the_georeport_v2_endpoint_in_json_and_xml(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get("/open311/discovery.json")

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"changeset", "contact", "key_service", "endpoints"}
    assert all(body[k] for k in ("changeset", "contact", "key_service"))
    (endpoint,) = body["endpoints"]
    assert endpoint == {
        "specification": GEOREPORT_V2,
        "url": f"http://bridge.test{BASE}",
        "changeset": body["changeset"],
        "type": "production",
        "formats": ["text/xml", "application/json"],
    }
    assert (await api.get(f"{endpoint['url']}/services.json")).status_code == 200

    xml = await api.get("/open311/discovery.xml")
    assert xml.status_code == 200
    assert xml.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(xml.content)
    assert root.tag == "discovery"
    assert {c.tag: c.text for c in root if c.tag != "endpoints"} == {
        k: body[k] for k in ("changeset", "contact", "key_service")
    }
    element = root.find("endpoints/endpoint")
    assert element is not None
    assert element.findtext("specification") == GEOREPORT_V2
    assert element.findtext("url") == endpoint["url"]
    assert [f.text for f in element.findall("formats/format")] == endpoint["formats"]


async def test_the_discovery_document_takes_the_public_url_and_texts_from_the_settings(
    engine: Engine, settings: Settings
) -> None:
    settings = settings.model_copy(
        update={
            "open311_url": "https://api.city.example/311/open311/v2",
            "open311_contact": "Mail api@city.example",
            "open311_key_service": "Keys at https://city.example/keys",
        }
    )
    app = create_app(settings, engine=engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://internal") as client:
        body = (await client.get("/open311/discovery.json")).json()

    assert body["contact"] == "Mail api@city.example"
    assert body["key_service"] == "Keys at https://city.example/keys"
    assert body["endpoints"][0]["url"] == "https://api.city.example/311/open311/v2"


async def test_services_list_the_seeded_nyc_catalogue_with_agencies_groups_and_metadata(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get(f"{BASE}/services.json")

    assert response.status_code == 200
    services = {s["service_code"]: s for s in response.json()}
    for code in (
        "noise-residential",
        "illegal-parking",
        "heat-hot-water",
        "blocked-driveway",
        "street-light",
        "pothole",
        "missed-collection",
        "rodents",
    ):
        assert code in services
    heat = services["heat-hot-water"]
    assert heat["service_name"] == "Heat/Hot Water"
    assert heat["metadata"] is True
    assert heat["type"] == "realtime"
    assert heat["group"] == "Housing"
    assert set(heat) == {
        "service_code", "service_name", "description", "metadata", "type", "keywords", "group"
    }  # fmt: skip


async def test_services_also_come_as_xml(api: httpx.AsyncClient) -> None:
    response = await api.get(f"{BASE}/services.xml")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "services"
    codes = [s.findtext("service_code") for s in root.findall("service")]
    assert "pothole" in codes


async def test_a_service_definition_lists_its_attributes_and_values(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get(f"{BASE}/services/heat-hot-water.json")

    assert response.status_code == 200
    body = response.json()
    assert body["service_code"] == "heat-hot-water"
    problem = next(a for a in body["attributes"] if a["code"] == "problem")
    assert problem["datatype"] == "singlevaluelist"
    assert problem["required"] is True
    assert {"key": "no_heat", "name": "Heat"} in problem["values"]
    xml = ET.fromstring((await api.get(f"{BASE}/services/heat-hot-water.xml")).text)
    assert xml.tag == "service_definition"
    assert xml.find("attributes/attribute/values/value/key") is not None


async def test_an_unknown_service_is_an_open311_404(api: httpx.AsyncClient) -> None:
    response = await api.get(f"{BASE}/services/teleportation.json")
    assert response.status_code == 404
    assert response.json() == [
        {"code": 404, "description": "service_code 'teleportation' not found"}
    ]
    xml = await api.get(f"{BASE}/services/teleportation.xml")
    assert ET.fromstring(xml.text).findtext("error/code") == "404"


async def test_given_a_valid_form_when_posted_then_an_sr_number_with_a_check_digit(
    api: httpx.AsyncClient,
) -> None:
    created = await file_request(api)

    assert validate_sr_number(created["service_request_id"])
    assert "token" not in created  # a realtime service: the id, never a token with it
    assert "68F" in created["service_notice"]
    assert set(created) == {"service_request_id", "service_notice", "account_id"}


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_given_a_batch_service_when_posted_then_a_token_only_which_gives_the_sr_number(
    api: httpx.AsyncClient, fmt: str
) -> None:
    form = {"api_key": OPEN311_KEY, "service_code": "consumer-complaint", "address_id": "1"}
    response = await api.post(f"{BASE}/requests.{fmt}", data=form)

    assert response.status_code == 201, response.text
    if fmt == "json":
        (created,) = response.json()
    else:
        element = ET.fromstring(response.text).find("request")
        assert element is not None
        created = {child.tag: child.text for child in element}
    assert set(created) == {"token", "service_notice", "account_id"}
    (found,) = (await api.get(f"{BASE}/tokens/{created['token']}.json")).json()
    assert found["token"] == created["token"]
    assert validate_sr_number(found["service_request_id"])
    (sr,) = (await api.get(f"{BASE}/requests/{found['service_request_id']}.json")).json()
    assert sr["service_code"] == "consumer-complaint"


async def test_given_a_filed_sr_then_readable_by_id_without_personal_data(
    api: httpx.AsyncClient,
) -> None:
    created = await file_request(api)
    sr_id = created["service_request_id"]

    (sr,) = (await api.get(f"{BASE}/requests/{sr_id}.json")).json()
    assert sr["status"] == "open"
    assert sr["service_name"] == "Heat/Hot Water"
    assert sr["agency_responsible"] == "HPD"
    assert sr["address"] == "350 5th Ave, New York, NY"
    assert sr["requested_datetime"].endswith("+00:00")
    assert sr["expected_datetime"]
    text = (await api.get(f"{BASE}/requests/{sr_id}.json")).text
    for private in ("Ada", "ada@example.org", "555", "0123"):
        assert private not in text

    assert (await api.get(f"{BASE}/tokens/nope.json")).status_code == 404
    assert (await api.get(f"{BASE}/requests/311000000000.json")).status_code == 404


async def test_sr_numbers_are_unique_and_consecutive(api: httpx.AsyncClient) -> None:
    ids = [(await file_request(api))["service_request_id"] for _ in range(5)]
    assert len(set(ids)) == 5
    sequences = [int(i[3:-1]) for i in ids]
    assert sequences == sorted(sequences)


@pytest.mark.parametrize(
    ("changes", "code", "fragment"),
    [
        ({"api_key": None}, 403, "api_key"),
        ({"api_key": "wrong"}, 403, "api_key"),
        ({"api_key": API_KEY}, 403, "api_key"),  # a controller key is not an Open311 client
        ({"service_code": None}, 400, "service_code is required"),
        ({"service_code": "teleportation"}, 404, "not found"),
        ({"address_string": None}, 400, "location"),
        ({"lat": "40.7"}, 400, "lat and long"),
        ({"lat": "91", "long": "0"}, 400, "lat must be"),
        ({"attribute[problem]": "too_cold"}, 400, "attribute[problem]"),
        ({"attribute[apartment]": None}, 400, "attribute[apartment] is required"),
        ({"attribute[colour]": "red"}, 400, "no attribute 'colour'"),
        ({"description": "x" * 4001}, 400, "description"),
        ({"email": "not-an-address"}, 400, "email"),
        ({"media_url": "ftp://x/y"}, 400, "media_url"),
        ({"favourite_colour": "red"}, 400, "unknown field"),
    ],
)
async def test_given_a_bad_form_then_an_open311_error(
    api: httpx.AsyncClient, changes: dict[str, Any], code: int, fragment: str
) -> None:
    response = await api.post(f"{BASE}/requests.json", data=heat_form(**changes))

    assert response.status_code == code
    (error,) = response.json()
    assert error["code"] == code
    assert fragment in error["description"]


async def test_given_a_field_the_server_does_not_know_when_posted_then_refused_not_dropped(
    api: httpx.AsyncClient,
) -> None:
    # a GET ignores what it does not know (nothing is lost); a POST that did so would file
    # an SR without what the client sent, so it is refused by name and nothing is filed
    response = await api.post(f"{BASE}/requests.json", data=heat_form(title="Cold flat"))

    assert response.status_code == 400
    assert "unknown field(s): title" in response.json()[0]["description"]
    assert "attribute[code]" in response.json()[0]["description"]
    assert (await api.get(f"{BASE}/requests.json")).json() == []


async def test_given_json_instead_of_a_form_then_400(api: httpx.AsyncClient) -> None:
    response = await api.post(f"{BASE}/requests.json", json=heat_form())
    assert response.status_code == 400


async def test_a_post_answers_in_xml_too(api: httpx.AsyncClient) -> None:
    response = await api.post(f"{BASE}/requests.xml", data=heat_form())
    assert response.status_code == 201
    root = ET.fromstring(response.text)
    assert root.tag == "service_requests"
    assert validate_sr_number(root.findtext("request/service_request_id") or "")


async def test_search_filters_by_code_status_ids_and_window(api: httpx.AsyncClient) -> None:
    a = (await file_request(api))["service_request_id"]
    b = (
        await file_request(
            api,
            service_code="pothole",
            **{
                "attribute[problem]": None,
                "attribute[scope]": None,
                "attribute[apartment]": None,
                "attribute[roadway]": "street",
            },
        )
    )["service_request_id"]
    await api.post(
        f"/v1/sr/{a}/status", json={"status": "closed", "status_notes": "Heat restored."}
    )

    def ids(response: httpx.Response) -> list[str]:
        assert response.status_code == 200, response.text
        return [r["service_request_id"] for r in response.json()]

    assert ids(await api.get(f"{BASE}/requests.json")) == [b, a]
    assert ids(await api.get(f"{BASE}/requests.json", params={"service_code": "pothole"})) == [b]
    assert ids(await api.get(f"{BASE}/requests.json", params={"status": "closed"})) == [a]
    assert ids(await api.get(f"{BASE}/requests.json", params={"service_request_id": f"{a},{b}"}))
    old = {"start_date": "2001-01-01T00:00:00Z", "end_date": "2001-02-01T00:00:00Z"}
    assert ids(await api.get(f"{BASE}/requests.json", params=old)) == []
    xml = ET.fromstring((await api.get(f"{BASE}/requests.xml")).text)
    assert [r.findtext("service_request_id") for r in xml.findall("request")] == [b, a]
    # a list parameter may also be declared more than once: each declaration counts
    twice = [("status", "open"), ("status", "closed")]
    assert ids(await api.get(f"{BASE}/requests.json", params=twice)) == [b, a]
    codes = [("service_code", "pothole"), ("service_code", "heat-hot-water")]
    assert ids(await api.get(f"{BASE}/requests.json", params=codes)) == [b, a]
    numbers = [("service_request_id", a), ("service_request_id", b)]
    assert sorted(ids(await api.get(f"{BASE}/requests.json", params=numbers))) == sorted([a, b])


async def test_an_api_key_sent_with_a_public_get_is_ignored(api: httpx.AsyncClient) -> None:
    # GETs need no key, but client libraries commonly send theirs with every call
    sr_id = (await file_request(api))["service_request_id"]
    anonymous = {"Authorization": ""}
    for key in (OPEN311_KEY, "not-a-key"):
        params = {"api_key": key, "jurisdiction_id": "nyc.gov"}
        search = await api.get(f"{BASE}/requests.json", params=params, headers=anonymous)
        assert search.status_code == 200, search.text
        assert [r["service_request_id"] for r in search.json()] == [sr_id]
        for path in ("services.json", "services/pothole.json", f"requests/{sr_id}.json"):
            response = await api.get(f"{BASE}/{path}", params=params, headers=anonymous)
            assert response.status_code == 200, (path, response.text)


# what Open311 apps and libraries send that GeoReport v2 does not define
CLIENT_EXTRAS = [("extensions", "true"), ("lat", "40.7128"), ("long", "-74.0060"),
                 ("radius", "500"), ("per_page", "20"), ("sort", "asc"), ("format", "json"),
                 ("jurisdiction_id", "nyc.gov"), ("callback", "x")]  # fmt: skip


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_given_parameters_the_server_does_not_know_then_every_get_ignores_them(
    api: httpx.AsyncClient, fmt: str
) -> None:
    sr_id = (await file_request(api))["service_request_id"]
    batch = {"api_key": OPEN311_KEY, "service_code": "consumer-complaint", "address_id": "1"}
    token = (await api.post(f"{BASE}/requests.json", data=batch)).json()[0]["token"]
    for path in ("services", "services/pothole", "requests", f"requests/{sr_id}",
                 f"tokens/{token}"):  # fmt: skip
        plain = await api.get(f"{BASE}/{path}.{fmt}")
        extra = await api.get(f"{BASE}/{path}.{fmt}", params=CLIENT_EXTRAS)
        assert plain.status_code == 200, (path, plain.text)
        assert extra.status_code == 200, (path, extra.text)
        assert extra.content == plain.content, path


async def test_search_pages_through_a_window_newest_first(api: httpx.AsyncClient) -> None:
    filed = [(await file_request(api))["service_request_id"] for _ in range(5)]
    newest_first = filed[::-1]

    async def page(**params: str) -> list[str]:
        response = await api.get(f"{BASE}/requests.json", params=params)
        assert response.status_code == 200, response.text
        return [r["service_request_id"] for r in response.json()]

    assert await page() == newest_first
    assert await page(page="1", page_size="2") == newest_first[:2]
    assert await page(page="2", page_size="2") == newest_first[2:4]
    assert await page(page="3", page_size="2") == newest_first[4:]
    assert await page(page="4", page_size="2") == []
    assert await page(page_size="3", extensions="true") == newest_first[:3]
    assert await page(page="2") == []  # the default page_size is the spec's 1000
    assert await page(page="2", page_size="1", status="open") == newest_first[1:2]


async def test_search_parameters_given_empty_are_ignored(api: httpx.AsyncClient) -> None:
    sr_id = (await file_request(api))["service_request_id"]
    empty = {"service_request_id": "", "service_code": "", "start_date": "", "end_date": "",
             "status": "", "jurisdiction_id": ""}  # fmt: skip

    response = await api.get(f"{BASE}/requests.json", params=empty)

    assert response.status_code == 200, response.text
    assert [r["service_request_id"] for r in response.json()] == [sr_id]


@pytest.mark.parametrize("fraction", [0, 600_000])
def test_a_search_finds_an_sr_when_its_shown_requested_datetime_is_in_the_window(
    engine: Engine, fraction: int
) -> None:
    # requested_datetime is shown to the second: an SR filed at 14:00:00.6 reads 14:00:00,
    # and a window ending at 14:00:00 (start_date=end_date=it) must hold it
    sessions = make_session_factory(engine)
    ServiceCatalogue(sessions).seed(SEED_SERVICES)
    store = ServiceRequestStore(sessions, clock=lambda: T0 + timedelta(microseconds=fraction))
    sr = store.create(NewServiceRequest(service_code="dirty-conditions", address_id="1"))
    shown = parse_datetime("end_date", request_dict(sr)["requested_datetime"])
    assert shown == T0
    second = timedelta(seconds=1)

    def found(start: datetime | None, end: datetime | None) -> list[str]:
        return [row[0] for row in store.search_public(start=start, end=end)]

    assert found(shown, shown) == [sr.sr_number]
    assert found(None, shown) == [sr.sr_number]
    assert found(shown, None) == [sr.sr_number]
    assert found(shown - second, shown - second / 2) == []
    assert found(shown + second / 2, shown + second) == []
    assert found(shown + second, None) == []


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "2025-01-01"},
        {"start_date": "2024-01-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z"},
        {"start_date": "2025-02-01T00:00:00Z", "end_date": "2025-01-01T00:00:00Z"},
        {"status": "pending"},
        {"status": "pending", "extensions": "true"},
        {"page": "0"},
        {"page_size": "1001", "extensions": "true"},
        {"page": "101"},
        [("page", "1"), ("page", "2")],
        [("start_date", "2025-01-01T00:00:00Z"), ("start_date", "2025-01-02T00:00:00Z")],
    ],
)
async def test_bad_search_parameters_are_open311_400s(
    api: httpx.AsyncClient, params: dict[str, str] | list[tuple[str, str]]
) -> None:
    response = await api.get(f"{BASE}/requests.json", params=params)
    assert response.status_code == 400
    assert response.json()[0]["code"] == 400


async def test_every_answer_names_its_utf8_charset_as_the_spec_shows(
    api: httpx.AsyncClient,
) -> None:
    sr_id = (await file_request(api))["service_request_id"]
    responses = [
        await api.get("/open311/discovery.json"),
        await api.get(f"{BASE}/services.json"),
        await api.get(f"{BASE}/services/pothole.json"),
        await api.get(f"{BASE}/services/teleportation.json"),
        await api.post(f"{BASE}/requests.json", data=heat_form()),
        await api.post(f"{BASE}/requests.json", data=heat_form(api_key="wrong")),
        await api.get(f"{BASE}/requests.json"),
        await api.get(f"{BASE}/requests.json", params={"status": "pending"}),
        await api.get(f"{BASE}/requests/{sr_id}.json"),
        await api.get(f"{BASE}/tokens/nope.json"),
    ]
    for response in responses:
        assert response.headers["content-type"] == "application/json; charset=utf-8", (
            response.request.url
        )
    xml = await api.get(f"{BASE}/requests.xml")
    assert xml.headers["content-type"] == "text/xml; charset=utf-8"
    assert xml.text.startswith('<?xml version="1.0" encoding="utf-8"?>')


async def test_an_unknown_format_is_404(api: httpx.AsyncClient) -> None:
    assert (await api.get(f"{BASE}/services.csv")).status_code == 404


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_given_filed_srs_when_searched_then_each_reads_as_its_single_lookup_does(
    api: httpx.AsyncClient, fmt: str
) -> None:
    ids = [
        (await file_request(api, lat="40.7484", long="-73.9857", address_string=None))[
            "service_request_id"
        ],
        (await file_request(api, description="Radiators cold; ünïcode ✓"))["service_request_id"],
    ]

    found = await api.get(f"{BASE}/requests.{fmt}")
    singles = [await api.get(f"{BASE}/requests/{sr_id}.{fmt}") for sr_id in reversed(ids)]

    assert found.status_code == 200
    if fmt == "json":
        assert found.json() == [s.json()[0] for s in singles]
        assert found.text == "[" + ",".join(s.text[1:-1] for s in singles) + "]"
    else:
        rows = ET.fromstring(found.content).findall("request")
        expected = [ET.fromstring(s.content).find("request") for s in singles]
        assert [ET.tostring(r) for r in rows] == [ET.tostring(e) for e in expected if e is not None]
    for private in ("Ada", "ada@example.org", "555", "0123", "no_heat", "4B"):
        assert private not in found.text


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_given_contacts_in_notes_and_description_then_public_gets_show_neither(
    api: httpx.AsyncClient, fmt: str
) -> None:
    filed = await api.post(
        "/v1/sr",
        json={
            "service_code": "heat-hot-water",
            "address": "120 Broadway, New York, NY 10005",
            "description": "Caller asks for a call back at 212 555 0147 about SR 311000000011.",
            "attributes": {"problem": "no_heat", "scope": "entire_building", "apartment": "4B"},
        },
    )
    assert filed.status_code == 201, filed.text
    sr_number = filed.json()["sr_number"]
    notes = (
        "Inspector called resident at (212) 555-0147, jane@example.com; "
        "visit 2024-05-03 at 10:30, 120 Broadway."
    )
    updated = await api.post(
        f"/v1/sr/{sr_number}/status", json={"status": "open", "status_notes": notes}
    )
    assert updated.status_code == 200, updated.text

    anonymous = {"Authorization": ""}  # the GETs are public: no key
    single = await api.get(f"{BASE}/requests/{sr_number}.{fmt}", headers=anonymous)
    search = await api.get(f"{BASE}/requests.{fmt}", headers=anonymous)

    for response in (single, search):
        assert response.status_code == 200
        if fmt == "json":
            (sr,) = response.json()
        else:
            element = ET.fromstring(response.content).find("request")
            assert element is not None
            sr = {child.tag: child.text for child in element}
        assert sr["status_notes"] == (
            "Inspector called resident at [removed], [removed]; "
            "visit 2024-05-03 at 10:30, 120 Broadway."
        )
        assert sr["description"] == (
            "Caller asks for a call back at [removed] about SR 311000000011."
        )
        for private in ("555", "0147", "jane", "example.com"):
            assert private not in response.text


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_given_contacts_typed_into_the_address_then_public_gets_show_the_address_without(
    api: httpx.AsyncClient, fmt: str
) -> None:
    address = "350 5th Ave Apt 4B, New York, NY 10118 (buzz, or call 212-555-0147, ada@example.org)"
    sr_id = (await file_request(api, address_string=address))["service_request_id"]

    anonymous = {"Authorization": ""}
    single = await api.get(f"{BASE}/requests/{sr_id}.{fmt}", headers=anonymous)
    search = await api.get(f"{BASE}/requests.{fmt}", headers=anonymous)

    for response in (single, search):
        assert response.status_code == 200
        if fmt == "json":
            (sr,) = response.json()
        else:
            sr = {c.tag: c.text for c in ET.fromstring(response.content).findall("request/*")}
        assert sr["address"] == (
            "350 5th Ave Apt 4B, New York, NY 10118 (buzz, or call [removed], [removed])"
        )
        for private in ("555", "0147", "ada@"):
            assert private not in response.text


FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("tail", "fragment"),
    [
        (b"&description=a%FFb", "description is not valid UTF-8"),
        (b"&description=a\xffb", "description is not valid UTF-8"),
        (b"&attribute%5Bapartment%5D=4%C3", "attribute[apartment] is not valid UTF-8"),
        (b"&lat=1_0&long=2", "lat is not a decimal number"),
        (b"&lat=40.7&long=1e1", "long is not a decimal number"),
        (b"&lat=nan&long=2", "lat is not a decimal number"),
        (b"&lat=40.7&long=-infinity", "long is not a decimal number"),
    ],
)
async def test_given_input_it_would_have_to_change_when_posted_then_400_and_nothing_filed(
    api: httpx.AsyncClient, tail: bytes, fragment: str
) -> None:
    form = heat_form(description=None, **{"attribute[apartment]": None})
    body = "&".join(f"{k}={v}" for k, v in form.items()).encode() + tail
    if b"apartment" not in tail:
        body += b"&attribute%5Bapartment%5D=4B"

    response = await api.post(f"{BASE}/requests.json", content=body, headers=FORM)

    assert response.status_code == 400, response.text
    (error,) = response.json()
    assert error == {"code": 400, "description": error["description"]}
    assert fragment in error["description"]
    assert (await api.get(f"{BASE}/requests.json")).json() == []


async def test_given_a_multipart_form_that_is_not_utf8_then_400_and_a_utf8_one_is_filed(
    api: httpx.AsyncClient,
) -> None:
    form = heat_form(description=None)
    parts = [(k, (None, v.encode())) for k, v in form.items()]

    bad = await api.post(
        f"{BASE}/requests.xml", files=[*parts, ("description", (None, b"caf\xe9"))]
    )
    good = await api.post(
        f"{BASE}/requests.json", files=[*parts, ("description", (None, "café".encode()))]
    )

    assert bad.status_code == 400
    assert ET.fromstring(bad.text).findtext("error/description") == (
        "the form is not valid UTF-8 (refused)"
    )
    assert good.status_code == 201, good.text
    (sr,) = (await api.get(f"{BASE}/requests.json")).json()
    assert sr["description"] == "café"
