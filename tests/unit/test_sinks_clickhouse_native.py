"""The native path's pure parts: Avro container blocks, writer grouping, the offsets token."""

from __future__ import annotations

import io

import pytest
from fastavro import reader
from hypothesis import given
from hypothesis import strategies as st

from schemas.codec import codec_for
from schemas.errors import CorruptRecord
from sinks.clickhouse import native
from tests.factories import make_enriched


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_zigzag_is_avro_long(n: int) -> None:
    # fastavro's own writer is the reference for Avro's long encoding.
    from fastavro.io.binary_encoder import BinaryEncoder

    buf = io.BytesIO()
    BinaryEncoder(buf).write_long(n)
    assert native.zigzag(n) == buf.getvalue()


def test_a_block_of_message_bodies_reads_back_as_the_records() -> None:
    codec = codec_for("EnrichedRecord")
    records = [make_enriched(c, n=i) for i, c in enumerate(("penalty", "registration", "license"))]
    groups = native.by_writer(codec.encode_many(records))
    assert list(groups) == [codec.fingerprint]
    block = native.container_block(codec.fingerprint, groups[codec.fingerprint])
    read = list(reader(io.BytesIO(block)))
    assert [str(r["event_id"]) for r in read] == [r["event_id"] for r in records]
    assert read[0]["payload"]["decision_number"] == records[0]["payload"]["decision_number"]


def test_a_message_that_is_not_single_object_encoding_is_corrupt() -> None:
    with pytest.raises(CorruptRecord, match="expected 0xC3 0x01"):
        native.by_writer([b"\xc3\x02not avro"])
