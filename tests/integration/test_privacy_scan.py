"""No full resident ID number anywhere the public or analysts can look (DOMAIN.md "Privacy").

Restrictions carrying the person's ID number go through the whole pipeline; then every
Redis value, every String column of every ClickHouse table and every API response is scanned
for a resident ID number in any written form (schemas/personal_ids.py). A record that hides a
full ID in free text is refused — at the edge (producers), and, for one that came another way,
by enrichment: penalties whose 备注 holds a number in each written form are sent past the edge.
The restriction intake topic holds the ID numbers sealed, never in clear.
"""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient

from creditsync.http import HttpDeps, create_http_app
from schemas.codec import decode_intake
from schemas.identifiers import make_resident_id
from schemas.personal_ids import check_character
from schemas.pii_crypto import is_envelope
from schemas.topics import intake_topic
from sinks.clickhouse import connect_clickhouse
from sinks.publicity import PublicityReader
from streams.rules.privacy import contains_resident_id
from tests.intake_factory import enterprise_codes, penalty, publish, registration, restriction
from tests.integration.helpers import count, rejected_messages, run_until, topic_messages

pytestmark = [pytest.mark.integration, pytest.mark.security]

FULL_WIDTH = str.maketrans({c: chr(ord(c) + 0xFEE0) for c in "0123456789X"})
_HEAD = "81000019850601021"
PERMIT = _HEAD + check_character(_HEAD)
OLD = "640422650801042"


def written_forms(number: str) -> dict[str, str]:
    """The ways of writing an ID number that once reached the public unmasked (issue #13)."""
    return {
        "spaced groups": f"{number[:6]} {number[6:14]} {number[14:]}",
        "hyphens": f"{number[:6]}-{number[6:10]}-{number[10:14]}-{number[14:]}",
        "dots": f"{number[:6]}.{number[6:14]}.{number[14:]}",
        "full-width": number.translate(FULL_WIDTH),
        "zero-width space": number[:10] + "\u200b" + number[10:],
        "lower-case x": number.lower(),
        "15-digit legacy": OLD,
        "15-digit spaced": f"{OLD[:6]} {OLD[6:12]} {OLD[12:]}",
        "HK residence permit": PERMIT,
    }


def past_the_edge(event, field: str, text: str):
    """The event with `text` put into a field after the producers' checks: a record that
    reached the intake topic some other way (an older producer, a tool)."""
    event["payload"][field] = text
    return event


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
    leaky = past_the_edge(
        restriction(enterprise_codes(40)["uscc"], legal_basis="依据泄露"),
        "legal_description",
        f"当事人身份证号{ids[0]}",
    )
    forms = written_forms(ids[1])
    leaky_penalties = [
        past_the_edge(
            penalty(enterprise_codes(41)["uscc"], f"宁市监罚〔2024〕{900 + i}号"),
            "remarks",
            f"当事人{name}：{form}，已核实",
        )
        for i, (name, form) in enumerate(forms.items())
    ]
    publish(pipeline.bootstrap, [*events, leaky, *leaky_penalties], pipeline.topic_prefix)
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
    # None of the leaky penalties was published anywhere.
    assert count(client, db, "SELECT count() FROM {db}.penalty FINAL") == 0
    profile = reader.profile(enterprise_codes(41)["uscc"]) or {}
    assert not profile.get("items", {}).get("penalty")

    rejected = rejected_messages(pipeline.bootstrap, pipeline.topic_prefix, 1 + len(forms))
    reasons = [dict(m.headers())["creditsync.reason_code"] for m in rejected]
    assert reasons == [b"unpublishable"] * (1 + len(forms))
    by_event = {dict(m.headers())["creditsync.event_id"].decode(): m for m in rejected}
    for event, what in [(leaky, "legal_description"), *((p, "remarks") for p in leaky_penalties)]:
        message = dict(by_event[event["event_id"]].headers())["__connect.errors.exception.message"]
        assert what in message.decode() and not contains_resident_id(message.decode()), message

    # The intake topic keeps records forever: the ID numbers on it are sealed.
    topic = intake_topic("restriction", pipeline.topic_prefix)
    sent = topic_messages(pipeline.bootstrap, topic, len(usccs) + 1, group=f"{topic}.scan")
    sealed = [
        m for m in sent if decode_intake(m.value())["event_id"] != leaky["event_id"]
    ]  # the leaky one was put past the edge on purpose
    assert len(sealed) == len(usccs)
    for m in sealed:
        assert is_envelope(decode_intake(m.value())["payload"]["id_document_number"])
        assert not contains_resident_id(m.value().decode("utf-8", "replace"))
        assert not any(number.encode() in m.value() for number in ids)

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
