"""Public surfaces bounded (issue #13): profile sections paged, page numbers checked, security
headers on the pages and the API; over a real Redis publicity index."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from creditsync.http import HttpDeps, create_http_app
from sinks.publicity import PublicityIndex, PublicityReader
from sinks.publicity.paging import MAX_PAGE
from tests.factories import make_enriched

pytestmark = [pytest.mark.integration, pytest.mark.security]

PENALTIES = 45
NAME = "宁夏固原市处罚较多商贸有限公司"


@pytest.fixture
def seeded(redis_client):
    """One enterprise with 45 penalties on 45 different days, a licence and a restriction."""
    index = PublicityIndex(redis_client)
    index.setup()
    first_day = dt.date(2024, 1, 1)
    records = [make_enriched("registration", n=501, payload={"name": NAME})]
    for i in range(PENALTIES):
        records.append(
            make_enriched(
                "penalty",
                n=501,
                canonical_name=NAME,
                occurred_at=first_day + dt.timedelta(days=i),
                payload={"decision_number": f"固市监罚〔2024〕{i + 1}号"},
            )
        )
    records += [
        make_enriched("license", n=501, canonical_name=NAME),
        make_enriched("restriction", n=501, canonical_name=NAME),
    ]
    for n in range(502, 507):
        records.append(make_enriched("registration", n=n))
        records.append(make_enriched("restriction", n=n))
    assert not index.write_batch(records).rejected
    return records[0]["uscc"]


@pytest.fixture
def client(redis_client, seeded):
    app = create_http_app(HttpDeps(reader=PublicityReader(redis_client)))
    with TestClient(app) as test_client:
        yield test_client


def numbers(items: list[dict]) -> list[int]:
    return [int(i["record_key"].split("〕")[1].rstrip("号")) for i in items]


def test_profile_shows_counts_and_the_newest_page_of_each_section(client, seeded):
    body = client.get(f"/v1/entities/{seeded}").json()
    assert body["name"] == NAME
    assert body["item_counts"]["penalty"] == PENALTIES
    assert body["item_counts"]["license"] == 1
    assert body["item_counts"]["red_list"] == 0
    assert body["lists"] == ["restriction"]
    # Newest first: the 45th decision (latest day) leads, 20 per page by default.
    assert numbers(body["items"]["penalty"]) == list(range(45, 25, -1))
    assert len(body["items"]["license"]) == 1
    assert body["items_page"] == {"category": None, "page": 1, "page_size": 20}


def test_one_section_pages_to_its_end(client, seeded):
    seen: list[int] = []
    for page in (1, 2, 3):
        response = client.get(
            f"/v1/entities/{seeded}", params={"category": "penalty", "page": page}
        )
        assert response.status_code == 200
        body = response.json()
        assert set(body["items"]) == {"penalty"}  # only the section asked for
        assert body["item_counts"]["license"] == 1  # the counts of every section stay
        seen += numbers(body["items"]["penalty"])
    assert seen == list(range(45, 0, -1))
    small = client.get(
        f"/v1/entities/{seeded}", params={"category": "penalty", "page": 9, "page_size": 5}
    ).json()
    assert numbers(small["items"]["penalty"]) == [5, 4, 3, 2, 1]


def test_a_page_past_the_end_is_400_in_chinese(client, seeded):
    response = client.get(f"/v1/entities/{seeded}", params={"category": "penalty", "page": 4})
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "page_out_of_range"
    assert body["message"] == "第 4 页超出范围：该企业的行政处罚信息共 45 条，每页 20 条，共 3 页"
    assert (body["total"], body["pages"]) == (45, 3)
    listing = client.get("/v1/lists/restriction", params={"page": 2})
    assert listing.status_code == 400
    assert listing.json()["message"].startswith(
        "第 2 页超出范围：严重违法失信名单（黑名单）共 6 条"
    )
    # An empty section or list is page 1, empty: not an error.
    empty = client.get(f"/v1/entities/{seeded}", params={"category": "red_list"})
    assert empty.status_code == 200 and empty.json()["items"] == {}
    assert client.get("/v1/lists/red_list").json()["items"] == []


@pytest.mark.parametrize("page", [str(10**19), str(MAX_PAGE + 1), "0", "-1"])
def test_huge_or_negative_page_numbers_are_400_never_500(client, seeded, page):
    for url, params in (
        ("/v1/lists/restriction", {"page": page}),
        ("/v1/lists/restriction", {"page": page, "region": "64"}),
        (f"/v1/entities/{seeded}", {"page": page, "category": "penalty"}),
        (f"/v1/entities/{seeded}", {"page": page}),
    ):
        response = client.get(url, params=params)
        assert response.status_code == 400, (url, params, response.text)
        assert response.json()["error"] == "page_out_of_range"
        assert "page 应为 1 至 1,000,000 之间的整数" in response.json()["message"]


def test_page_sizes_and_categories_are_bounded(client, seeded):
    for params in ({"page_size": 101}, {"page_size": 0}, {"page_size": 10**30}):
        response = client.get(f"/v1/entities/{seeded}", params=params)
        assert response.status_code == 400
        assert response.json()["message"].startswith("page_size 应为 1 至 100 之间的整数")
    too_big = client.get("/v1/lists/restriction", params={"size": 101})
    assert too_big.status_code == 400
    assert too_big.json()["message"] == "size 应为 1 至 100 之间的整数，收到 101"
    unknown = client.get(f"/v1/entities/{seeded}", params={"category": "blacklist"})
    assert unknown.status_code == 400
    assert "penalty (行政处罚)" in unknown.json()["message"]
    no_section = client.get(f"/v1/entities/{seeded}", params={"page": 2})
    assert no_section.status_code == 400
    assert no_section.json()["error"] == "category_required"
    assert client.get("/v1/search", params={"q": "固原", "limit": 51}).status_code == 400


PAGE_CSP_PARTS = ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'")


@pytest.mark.parametrize("path", ["/", "/dashboard", "/?q=固原"])
def test_pages_carry_a_strict_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    csp = response.headers["content-security-policy"]
    for part in PAGE_CSP_PARTS:
        assert part in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_json_static_and_errors_carry_headers_too(client, seeded):
    for path in (
        f"/v1/entities/{seeded}",
        "/v1/entities/12345",  # 400
        "/v1/lists/blacklist",  # 404
        "/static/app.js",
        "/metrics",
        "/openapi.json",
    ):
        response = client.get(path)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"], path
    api = client.get(f"/v1/entities/{seeded}").headers["content-security-policy"]
    assert api.startswith("default-src 'none'")


def test_docs_policy_allows_exactly_its_inline_script(client):
    import base64
    import hashlib
    import re

    response = client.get("/docs")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.S)
    assert inline, "Swagger UI starts from an inline script"
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    assert "https://cdn.jsdelivr.net" in csp
    assert "frame-ancestors 'none'" in csp
    script_src = csp.split("script-src", 1)[1].split(";", 1)[0]
    assert "unsafe-inline" not in script_src
