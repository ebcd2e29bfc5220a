"""Service checks and set-up: the ClickHouse line of `creditsync status`, Kafka cluster ids."""

from __future__ import annotations

from creditsync.health import check_clickhouse


def test_clickhouse_off_is_reported_as_off(tmp_path):
    check = check_clickhouse("off", "creditsync", tmp_path, "http://127.0.0.1:9")
    assert check.ok and "off" in check.detail


def test_embedded_clickhouse_without_the_main_job_is_not_opened_by_status(tmp_path):
    store = tmp_path / "clickhouse"
    check = check_clickhouse(f"chdb://{store}", "creditsync", tmp_path, "http://127.0.0.1:9")
    assert check.ok and "not opened" in check.detail
    assert not store.exists(), "status must not create or lock the embedded store"


def test_an_unreachable_clickhouse_server_is_down_with_the_reason(tmp_path):
    check = check_clickhouse("http://127.0.0.1:9/creditsync", "creditsync", tmp_path, "")
    assert not check.ok
    assert "127.0.0.1:9" in check.detail


def test_kafka_cluster_ids_never_start_with_a_dash():
    # A leading '-' made the storage tool read the id as an option (a broker that never
    # started, about one run in 64).
    from creditsync.services import new_cluster_id

    ids = [new_cluster_id() for _ in range(2000)]
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
