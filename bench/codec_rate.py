"""Codec throughput: records/s to encode and decode, one at a time and in batches.

    python bench/codec_rate.py [--records 20000] [--repeat 3]

Intake events are penalties (the widest common payload); enriched records are restrictions
(the widest enriched payload). The best of `--repeat` runs is reported, as timeit does,
because the slower runs measure the machine's other work, not the codec.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from schemas.codec import codec_for
from schemas.identifiers import make_uscc

UTC = dt.UTC


def intake_event(i: int) -> dict[str, Any]:
    uscc = make_uscc("9", "1", "640422", f"MA{i:06d}")
    return {
        "event_id": str(uuid.UUID(int=i)),
        "category": "penalty",
        "operation": "upsert",
        "department": {"code": "scjg-640000", "name": "宁夏回族自治区市场监督管理厅"},
        "record_key": f"宁市监罚〔2024〕{i}号",
        "subject": {"uscc": uscc, "registration_number": None, "organisation_code": None,
                    "name": f"西吉县第{i}号商贸有限公司"},
        "occurred_at": dt.date(2024, 3, 1),
        "emitted_at": dt.datetime(2024, 3, 4, 8, 30, tzinfo=UTC),
        "source_sequence": i,
        "adapter": "bench/1",
        "payload": {
            "penalising_authority": "西吉县市场监督管理局",
            "decision_number": f"宁市监罚〔2024〕{i}号",
            "decided_on": dt.date(2024, 3, 1),
            "violation_type": "虚假宣传",
            "fine_amount": Decimal("5000.00"),
            "confiscation_amount": None,
            "penalty_kind": "罚款",
            "remarks": None,
            "penalty_basis": "《中华人民共和国广告法》第五十五条",
        },
    }  # fmt: skip


def enriched_record(i: int) -> dict[str, Any]:
    event = intake_event(i)
    return {
        **event,
        "category": "restriction",
        "uscc": event["subject"]["uscc"],
        "canonical_name": event["subject"]["name"],
        "entity_type": "企业",
        "region": {"code": "640422", "province": "宁夏回族自治区", "prefecture": "固原市",
                   "county": "西吉县"},
        "processed_at": dt.datetime(2024, 3, 4, 8, 30, 1, tzinfo=UTC),
        "version": f"{i:020d}:1709541000000:{event['event_id']}",
        "publication_status": "public",
        "timeliness": {"working_days": 1, "deadline_working_days": 7, "deadline_met": True},
        "lineage": {"topic": "credit.intake.restriction", "partition": 0, "offset": i,
                    "schema_fingerprint": "70121695c3ab33b8"},
        "payload": {
            "legal_basis": "《企业信息公示暂行条例》第十八条",
            "legal_description": None,
            "restricted_from": dt.date(2024, 3, 1),
            "restricted_to": dt.date(2027, 2, 28),
            "sending_department": "宁夏回族自治区市场监督管理厅",
            "receiving_departments": ["宁夏回族自治区税务局", "宁夏回族自治区住房和城乡建设厅"],
            "information_type": "严重违法失信企业名单",
            "person_category": "法定代表人",
            "person_name": "张三",
            "id_document_type": "居民身份证",
            "id_document_number_masked": "640422********1235",
            "id_document_number_hash": "9f" * 32,
        },
    }  # fmt: skip


def best_rate(run: Callable[[], object], count: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return count / best


def bench(record_type: str, records: list[dict[str, Any]], repeat: int, batch: int) -> None:
    codec = codec_for(record_type)
    encoded = codec.encode_many(records)
    n = len(records)
    size = sum(map(len, encoded)) / n
    batches = [records[i : i + batch] for i in range(0, n, batch)]
    messages = [encoded[i : i + batch] for i in range(0, n, batch)]
    rates = {
        "encode single": best_rate(lambda: [codec.encode(r) for r in records], n, repeat),
        "encode batch": best_rate(lambda: [codec.encode_many(b) for b in batches], n, repeat),
        "decode single": best_rate(lambda: [codec.decode(m) for m in encoded], n, repeat),
        "decode batch": best_rate(lambda: [codec.decode_many(b) for b in messages], n, repeat),
    }
    print(f"{record_type} ({size:.0f} bytes/message, {n} records, batches of {batch})")
    for name, rate in rates.items():
        print(f"  {name:<14} {rate:>10,.0f} records/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    print(f"building {args.records} sample records …", flush=True)
    intake = [intake_event(i) for i in range(args.records)]
    enriched = [enriched_record(i) for i in range(args.records)]
    bench("IntakeEvent", intake, args.repeat, args.batch)
    bench("EnrichedRecord", enriched, args.repeat, args.batch)


if __name__ == "__main__":
    main()
