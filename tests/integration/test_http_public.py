"""The public query API over a real Redis publicity index: profile, search, lists, health."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import pytest
from fastapi.testclient import TestClient

from creditsync.health import ServiceCheck, check_redis
from creditsync.http import HttpDeps, create_http_app
from schemas.identifiers import make_resident_id
from sinks.publicity import PublicityIndex, PublicityReader
from streams.rules.privacy import contains_resident_id
from tests.factories import make_enriched, newer

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_client(publicity_redis):
    """Every test here runs on one redis-server and on a three-master cluster (issue #18)."""
    return publicity_redis


# A valid resident ID (check digit, birth date): what must never appear in a response.
RESIDENT_ID = make_resident_id("640422", dt.date(1985, 7, 14), "123")


@pytest.fixture
def seeded(redis_client):
    """Three enterprises: one with a full profile (penalty under objection, restriction,
    licence, inspection, red-list honour, a former name), two plain ones in other regions."""
    index = PublicityIndex(redis_client)
    index.setup()
    reg = make_enriched("registration", n=101, payload={"name": "宁夏西吉县六盘山农业有限公司"})
    renamed = newer(
        reg,
        payload={"name": "宁夏六盘山绿色食品有限公司"},
        canonical_name="宁夏六盘山绿色食品有限公司",
    )
    penalty = make_enriched(
        "penalty",
        n=101,
        publication_status="under_review",
        canonical_name="宁夏六盘山绿色食品有限公司",
        # A department wrote a person's ID number into 备注: the guard must mask it.
        payload={"remarks": f"当事人身份证号{RESIDENT_ID}"},
    )
    current = "宁夏六盘山绿色食品有限公司"
    records = [
        reg,
        renamed,
        penalty,
        *(
            make_enriched(category, n=101, canonical_name=current)
            for category in ("restriction", "license", "inspection", "red_list")
        ),
        make_enriched(
            "registration", n=102, payload={"name": "六盘山商贸有限公司"}, region_code="640104"
        ),
        make_enriched(
            "restriction", n=102, region_code="640104", canonical_name="六盘山商贸有限公司"
        ),
        make_enriched(
            "registration", n=103, payload={"name": "北京六盘山咨询有限公司"}, region_code="110105"
        ),
        *(
            make_enriched(
                category, n=103, region_code="110105", canonical_name="北京六盘山咨询有限公司"
            )
            for category in ("restriction", "abnormal_operation")
        ),
    ]
    result = index.write_batch(records)
    assert not result.rejected
    return {"main": renamed, "penalty": penalty, "other": records[7], "beijing": records[9]}


@pytest.fixture
def client(redis_client, publicity_redis_url, seeded):
    health = lambda: [check_redis(publicity_redis_url)]  # noqa: E731
    app = create_http_app(HttpDeps(reader=PublicityReader(redis_client), health=health))
    with TestClient(app) as test_client:
        yield test_client


def test_profile_by_uscc_shows_identity_and_every_section(client, seeded):
    main = seeded["main"]
    response = client.get(f"/v1/entities/{main['uscc']}")
    assert response.status_code == 200
    profile = response.json()
    assert profile["name"] == "宁夏六盘山绿色食品有限公司"
    assert profile["former_names"] == ["宁夏西吉县六盘山农业有限公司"]
    assert profile["region"]["county"] == "西吉县"
    assert set(profile["items"]) == {"penalty", "restriction", "license", "inspection", "red_list"}
    penalty = profile["items"]["penalty"][0]
    assert penalty["payload"]["decision_number"] == "西市监罚〔2024〕101号"
    assert penalty["status"] == "under_review"
    assert set(profile["lists"]) == {"restriction", "red_list"}
    restriction = profile["items"]["restriction"][0]["payload"]
    assert restriction["id_document_number_masked"] == "640422********1234"
    assert "id_document_number_hash" not in restriction


def test_profile_by_legacy_codes_in_the_forms_people_type(client, seeded):
    main = seeded["main"]
    org = main["payload"]["organisation_code"]
    typed = [
        main["payload"]["registration_number"],
        f"{org[:8]}-{org[8]}",
        unicodedata.normalize("NFKC", main["uscc"]).translate(  # full-width digits
            {ord(c): ord(c) + 0xFEE0 for c in "0123456789"}
        ),
        f" {main['uscc'][:6]} {main['uscc'][6:]} ",
    ]
    for code in typed:
        response = client.get(f"/v1/entities/{code}")
        assert response.status_code == 200, (code, response.text)
        assert response.json()["uscc"] == main["uscc"]


def test_malformed_code_is_400_naming_what_is_wrong(client, seeded):
    uscc = seeded["main"]["uscc"]
    wrong_check = uscc[:17] + ("0" if uscc[17] != "0" else "1")
    body = client.get(f"/v1/entities/{wrong_check}").json()
    assert body["error"] == "invalid_code"
    assert body["reason"].startswith(f"check character expected {uscc[17]!r}")
    response = client.get("/v1/entities/12345")
    assert response.status_code == 400
    assert "length 5 fits no code" in response.json()["message"]


def test_resident_id_as_code_is_refused_without_repeating_it(client):
    response = client.get(f"/v1/entities/{RESIDENT_ID}")
    assert response.status_code == 400
    assert "resident ID number" in response.json()["reason"]
    assert RESIDENT_ID not in response.text
    assert not contains_resident_id(response.text)


def test_unknown_valid_code_is_404_with_a_clear_message(client):
    from tests.factories import make_codes

    unknown = make_codes(9999)["uscc"]
    response = client.get(f"/v1/entities/{unknown}")
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "not_found"
    assert f"no enterprise with uscc (统一社会信用代码) {unknown}" in body["message"]


def test_search_ranks_exact_then_prefix_then_substring(client, seeded):
    body = client.get("/v1/search", params={"q": "六盘山商贸有限公司"}).json()
    assert [r["name"] for r in body["results"]] == ["六盘山商贸有限公司"]
    assert body["results"][0]["match"] == "exact"
    names = [r["name"] for r in client.get("/v1/search", params={"q": "六盘山"}).json()["results"]]
    assert names[0] == "六盘山商贸有限公司"  # prefix before substring
    assert set(names) == {
        "六盘山商贸有限公司",
        "宁夏六盘山绿色食品有限公司",
        "北京六盘山咨询有限公司",
    }


def test_search_by_former_name_and_by_code_prefix(client, seeded):
    main = seeded["main"]
    former = client.get("/v1/search", params={"q": "西吉县六盘山农业"}).json()["results"]
    assert [(r["uscc"], r["former"]) for r in former] == [(main["uscc"], True)]
    by_code = client.get("/v1/search", params={"q": main["uscc"][:14]}).json()["results"]
    assert by_code[0]["uscc"] == main["uscc"]
    assert by_code[0]["match"] == "code"


def test_one_character_search_is_400(client):
    response = client.get("/v1/search", params={"q": " 六 "})
    assert response.status_code == 400
    assert response.json()["message"].startswith("q: a search needs at least 2 characters")


def test_lists_page_and_filter_by_region(client, seeded):
    whole = client.get("/v1/lists/restriction", params={"size": 2}).json()
    assert (whole["total"], whole["pages"], len(whole["items"])) == (3, 2, 2)
    second = client.get("/v1/lists/restriction", params={"size": 2, "page": 2}).json()
    seen = {i["uscc"] for i in whole["items"] + second["items"]}
    assert len(seen) == 3
    ningxia = client.get("/v1/lists/restriction", params={"region": "64"}).json()
    assert {i["uscc"] for i in ningxia["items"]} == {
        seeded["main"]["uscc"],
        seeded["other"]["uscc"],
    }
    county = client.get("/v1/lists/restriction", params={"region": "640422"}).json()
    assert [i["uscc"] for i in county["items"]] == [seeded["main"]["uscc"]]
    abnormal = client.get("/v1/lists/abnormal_operation").json()
    assert [i["name"] for i in abnormal["items"]] == ["北京六盘山咨询有限公司"]


def test_list_errors_name_the_limits(client):
    unknown = client.get("/v1/lists/blacklist")
    assert unknown.status_code == 404
    for name in ("restriction", "abnormal_operation", "red_list"):
        assert name in unknown.json()["message"]
    too_big = client.get("/v1/lists/restriction", params={"size": 101})
    assert too_big.status_code == 400
    assert too_big.json()["message"] == "size 应为 1 至 100 之间的整数，收到 101"
    bad_region = client.get("/v1/lists/restriction", params={"region": "6a"})
    assert bad_region.status_code == 400
    assert "GB/T 2260" in bad_region.json()["message"]


def test_no_full_resident_id_in_any_response(client, seeded):
    """The guard masks an ID a department wrote into free text, wherever it would show."""
    main = seeded["main"]
    responses = [
        client.get(f"/v1/entities/{main['uscc']}"),
        client.get("/v1/search", params={"q": RESIDENT_ID}),  # echoed back as "query"
        client.get("/v1/lists/restriction"),
    ]
    for response in responses:
        assert response.status_code == 200
        assert not contains_resident_id(response.text), response.url
    remarks = responses[0].json()["items"]["penalty"][0]["payload"]["remarks"]
    assert remarks == f"当事人身份证号{RESIDENT_ID[:6]}********{RESIDENT_ID[-4:]}"
    assert responses[1].json()["query"] == f"{RESIDENT_ID[:6]}********{RESIDENT_ID[-4:]}"
    metrics = client.get("/metrics").text
    masked = re.search(r"^creditsync_http_personal_ids_masked_total (\S+)$", metrics, re.M)
    assert masked is not None and float(masked.group(1)) >= 2


def test_health_is_503_when_a_service_is_down(redis_client, publicity_redis_url):
    checks = [
        check_redis(publicity_redis_url),
        ServiceCheck("kafka", False, "127.0.0.1:1: no answer"),
    ]
    app = create_http_app(HttpDeps(reader=PublicityReader(redis_client), health=lambda: checks))
    with TestClient(app) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert [(c["name"], c["ok"]) for c in body["checks"]] == [("redis", True), ("kafka", False)]


def test_health_metrics_docs_and_page(client):
    health = client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["checks"][0]["name"] == "redis"
    client.get("/v1/search", params={"q": "六盘山"})
    metrics = client.get("/metrics")
    assert 'creditsync_http_requests_total{route="/v1/search",status="200"}' in metrics.text
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/entities/{code}", "/v1/search", "/v1/lists/{list_name}", "/healthz"} <= set(paths)
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert "信用信息公示查询" in page.text
    assert client.get("/static/app.js").status_code == 200
