"""The native ClickHouse path (Avro blocks, views) against chdb: same rows as the Python
mapping, mixed writer versions in one batch, the offsets' dedup token under retry, privacy."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastavro import schemaless_writer

from schemas.catalog import default_catalog
from schemas.codec import MAGIC, codec_for
from sinks.clickhouse import ClickHouseSink, connect_clickhouse
from sinks.clickhouse.migrations import m0001_tables, m0006_categories
from sinks.clickhouse.native import offsets_token
from tests.factories import make_enriched, newer

pytestmark = pytest.mark.integration

# m0006: issue #17's categories, filled by their own views from records_stage.
CATEGORY_COLUMNS = {**m0001_tables.CATEGORY_COLUMNS, **m0006_categories.CATEGORY_COLUMNS}
TABLES = ["records_raw", *CATEGORY_COLUMNS, "entities", "entity_names"]


@dataclass(frozen=True)
class Msg:
    """A consumed credit.records message, as the sink loop hands it over."""

    _value: bytes
    _offset: int
    _partition: int = 0
    _topic: str = "credit.records"

    def value(self) -> bytes:
        return self._value

    def offset(self) -> int:
        return self._offset

    def partition(self) -> int:
        return self._partition

    def topic(self) -> str:
        return self._topic


def encode_v1(record: dict) -> bytes:
    """A record as an older producer wrote it: EnrichedRecord v1 (no penalty_basis)."""
    v1 = default_catalog().version("EnrichedRecord", 1)
    wire = dict(record)
    payload = {k: v for k, v in record["payload"].items() if k != "penalty_basis"}
    wire["payload"] = ("creditsync.payload.Penalty", payload)
    buf = io.BytesIO()
    buf.write(MAGIC + v1.fingerprint_bytes)
    schemaless_writer(buf, v1.parsed, wire)
    return buf.getvalue()


def messages(records: list[dict], start: int = 0) -> list[Msg]:
    codec = codec_for("EnrichedRecord")
    return [Msg(codec.encode(r), start + i) for i, r in enumerate(records)]


@pytest.fixture
def sinks(chdb_dsn: str, clickhouse_database: str) -> Iterator[tuple[ClickHouseSink, ...]]:
    made = []
    for suffix, native in (("n", None), ("p", False)):
        sink = ClickHouseSink(
            connect_clickhouse(chdb_dsn, f"{clickhouse_database}_{suffix}"), native
        )
        sink.setup()
        made.append(sink)
    try:
        yield tuple(made)
    finally:
        for sink in made:
            sink.client.command(f"DROP DATABASE IF EXISTS `{sink.client.database}`")
        for sink in made:
            sink.close()


def table(sink: ClickHouseSink, name: str, final: bool = True) -> list[tuple]:
    described = [r[0] for r in sink.client.query(f"DESCRIBE TABLE {name}").result_rows]
    columns = ", ".join(c for c in described if c != "payload_json")
    return sorted(
        sink.client.query(f"SELECT {columns} FROM {name}{' FINAL' if final else ''}").result_rows,
        key=repr,
    )


def _every_category() -> list[dict]:
    penalty = make_enriched("penalty", n=401, payload={"remarks": None})
    return [
        make_enriched("registration", n=401),
        make_enriched("registration", n=402, payload={"legal_representative": None}),
        penalty,
        newer(penalty, publication_status="withdrawn"),
        *(make_enriched(c, n=403) for c in CATEGORY_COLUMNS if c != "penalty"),
        make_enriched("objection", n=401),
        make_enriched(
            "restriction",
            n=404,
            timeliness={"working_days": 3, "deadline_working_days": 7, "deadline_met": True},
        ),
    ]


def test_native_rows_equal_the_python_mapping(sinks: tuple[ClickHouseSink, ...]) -> None:
    native, python = sinks
    assert native.native and not python.native
    records = _every_category()
    assert native.write_batch(messages(records)).applied == len(records)
    assert python.write_batch(records).applied == len(records)
    for name in TABLES:
        assert table(native, name) == table(python, name), name
    assert len(table(native, "records_raw")) == len(records)


def test_raw_payload_json_keeps_the_payload_without_the_masked_id(
    sinks: tuple[ClickHouseSink, ...],
) -> None:
    native, _ = sinks
    restriction = make_enriched("restriction", n=405)
    native.write_batch(messages([restriction]))
    (text,) = native.client.query("SELECT payload_json FROM records_raw").result_rows[0]
    payload = json.loads(text)
    assert "id_document_number_masked" not in payload
    assert payload["id_document_number_hash"] == restriction["payload"]["id_document_number_hash"]
    assert payload["receiving_departments"] == restriction["payload"]["receiving_departments"]


def test_mixed_writer_versions_in_one_batch(sinks: tuple[ClickHouseSink, ...]) -> None:
    native, _ = sinks
    old = make_enriched("penalty", n=410)
    new = make_enriched("penalty", n=411, payload={"penalty_basis": "《食品安全法》第一百二十四条"})
    batch = [Msg(encode_v1(old), 0), *messages([new], start=1)]
    assert batch[0].value()[2:10] != batch[1].value()[2:10]  # two writer fingerprints
    assert native.write_batch(batch).applied == 2
    rows = native.client.query(
        "SELECT decision_number, penalty_basis, fine_amount FROM penalty FINAL ORDER BY uscc"
    ).result_rows
    assert [(r[0], r[1], str(r[2])) for r in rows] == [
        (old["payload"]["decision_number"], "", "5000.00"),
        (new["payload"]["decision_number"], "《食品安全法》第一百二十四条", "5000.00"),
    ]


def test_a_retried_batch_is_dropped_by_its_offsets_token(
    sinks: tuple[ClickHouseSink, ...],
) -> None:
    native, _ = sinks
    records = [make_enriched("penalty", n=420 + i) for i in range(4)]
    batch = messages(records, start=100)
    native.write_batch(batch)
    native.write_batch(list(batch))  # the loop retried the same batch after a timeout
    assert len(table(native, "records_raw", final=False)) == 4
    assert len(table(native, "penalty", final=False)) == 4
    # A replay reads the same offsets in other batches: new tokens, rows collapse by key.
    native.write_batch(batch[:2])
    native.write_batch(batch[2:])
    assert len(table(native, "records_raw")) == 4
    assert len(table(native, "penalty")) == 4


def test_offsets_token_is_deterministic_and_tells_batches_apart() -> None:
    batch = [Msg(b"", 5), Msg(b"", 6), Msg(b"", 7, _partition=1)]
    same = offsets_token("fp", list(reversed(batch)))
    assert offsets_token("fp", batch) == same
    assert offsets_token("fp", batch[:2]) != same
    assert offsets_token("other", batch) != same
    assert offsets_token("fp", [Msg(b"", 5), Msg(b"", 7), Msg(b"", 7, _partition=1)]) != same
