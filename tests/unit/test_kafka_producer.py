"""The one producer wrapper under KafkaPublisher and Outputs: nothing connects in __init__,
explicit arguments override extra_config over the defaults, and a failed delivery is raised."""

from __future__ import annotations

import pytest

from producers.publisher import KafkaPublisher, OutgoingRecord, PublishFailed
from schemas.kafka.config import kafka_at
from streams.runtime.outputs import OutputNotDelivered, Outputs

NOWHERE = "127.0.0.1:9"  # the discard port: nothing answers


def test_no_client_is_made_until_the_first_message():
    publisher = KafkaPublisher(kafka_at(NOWHERE), client_id="c", extra_config={"linger.ms": 1})
    outputs = Outputs(kafka_at(NOWHERE), "o")
    assert publisher._kafka._producer is None and outputs._kafka._producer is None
    config = publisher._kafka.config
    assert (config["linger.ms"], config["acks"], config["client.id"]) == (1, "all", "c")
    assert config["bootstrap.servers"] == NOWHERE
    outputs.flush_blocking()  # nothing sent: nothing to wait for, no client made
    assert outputs._kafka._producer is None


def test_an_unacknowledged_record_is_raised_not_dropped():
    publisher = KafkaPublisher(kafka_at(NOWHERE), extra_config={"message.timeout.ms": 300})
    with pytest.raises(
        PublishFailed, match=r"1 record\(s\) failed: t.* key=b'k': Local: Message timed out"
    ):
        publisher.publish([OutgoingRecord("t", b"k", b"v")], timeout=5)
    publisher.close(0.1)


def test_an_undelivered_output_fails_the_batch():
    outputs = Outputs(kafka_at(NOWHERE), "o")
    outputs._kafka.config["message.timeout.ms"] = 300
    outputs.send("t", b"k", b"v")
    with pytest.raises(OutputNotDelivered):
        outputs.flush_blocking(timeout=5)
    outputs._kafka.close(0.1)
