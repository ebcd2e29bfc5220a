"""No full resident ID number anywhere the public or analysts can look (DOMAIN.md "Privacy").

Restrictions carrying the person's ID number go through the whole pipeline; then every
Redis value, every String column of every ClickHouse table and every API response is scanned
for a valid 18-character resident ID. A record that hides a full ID in free text is refused.
"""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from creditsync.http import HttpDeps, create_http_app
from schemas.identifiers import make_resident_id
from sinks.clickhouse import connect_clickhouse
from sinks.publicity import PublicityReader
from streams.privacy import contains_resident_id
from tests.intake_factory import enterprise_codes, publish, registration, restriction
from tests.integration.helpers import count, rejected_messages, run_until

pytestmark = pytest.mark.integration


def redis_texts(client) -> list[str]:
    texts = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if kind == "string":
            values = [client.get(key)]
        elif kind == "hash":
            values = [v for pair in client.hgetall(key).items() for v in pair]
        elif kind == "set":
            values = list(client.smembers(key))
        elif kind == "zset":
            values = list(client.zrange(key, 0, -1))
        elif kind == "list":
            values = list(client.lrange(key, 0, -1))
        else:
            values = []
        texts += [key.decode("utf-8", "replace")]
        texts += [v.decode("utf-8", "replace") for v in values if v is not None]
    return texts


def test_no_full_resident_id_in_redis_clickhouse_or_the_api(pipeline, redis_client):
    events, ids = [], []
    for n in range(40, 52):
        codes = enterprise_codes(n)
        number = make_resident_id("640422", dt.date(1970 + n % 30, 1 + n % 12, 3), f"{n:03d}")
        ids.append(number)
        events.append(registration(n, f"宁夏隐私{n}号有限公司"))
        events.append(restriction(codes["uscc"], id_document_number=number, legal_basis=f"依据{n}"))
    # A department that writes the full number into free text: refused, not published.
    leaky = restriction(
        enterprise_codes(40)["uscc"],
        legal_basis="依据泄露",
        legal_description=f"当事人身份证号{ids[0]}",
    )
    publish(pipeline.bootstrap, [*events, leaky], pipeline.topic_prefix)
    reader = PublicityReader(redis_client)
    usccs = [enterprise_codes(n)["uscc"] for n in range(40, 52)]

    def all_restrictions_visible() -> bool:
        return all((reader.profile(u) or {}).get("items", {}).get("restriction") for u in usccs)

    assert run_until(pipeline, all_restrictions_visible)
    client = connect_clickhouse(pipeline.clickhouse_dsn, pipeline.clickhouse_database)
    db = pipeline.clickhouse_database

    def restrictions_stored() -> bool:
        return count(client, db, "SELECT count() FROM {db}.restriction FINAL") == len(usccs)

    assert run_until(pipeline, restrictions_stored)

    rejected = rejected_messages(pipeline.bootstrap, pipeline.topic_prefix, 1)
    reasons = [dict(m.headers())["creditsync.reason_code"] for m in rejected]
    assert reasons == [b"unpublishable"]
    message = dict(rejected[0].headers())["__connect.errors.exception.message"].decode()
    assert "legal_description" in message and not contains_resident_id(message)

    leaks = [t for t in redis_texts(redis_client) if contains_resident_id(t)]
    assert not leaks, f"full ID numbers in Redis: {leaks[:3]}"

    columns = client.query(
        "SELECT table, name FROM system.columns WHERE database = {db:String} "
        "AND type LIKE '%String%'",
        parameters={"db": db},
    ).result_rows
    assert columns, "no String columns found: the scan would prove nothing"
    for table, column in columns:
        values = client.query(f"SELECT DISTINCT toString(`{column}`) FROM `{db}`.`{table}`")
        leaked = [v for (v,) in values.result_rows if v and contains_resident_id(v)]
        assert not leaked, f"full ID numbers in ClickHouse {table}.{column}: {leaked[:3]}"

    api = TestClient(create_http_app(HttpDeps(reader=reader)))
    for uscc in usccs:
        response = api.get(f"/v1/entities/{uscc}")
        assert response.status_code == 200
        assert "640422****" in response.text  # the masked form is what the public sees
        assert not contains_resident_id(response.text), response.text[:500]
    lists = api.get("/v1/lists/restriction", params={"size": 100})
    assert lists.status_code == 200 and not contains_resident_id(lists.text)
