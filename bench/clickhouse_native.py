"""Micro-benchmark: the ClickHouse sink's write_batch on N credit.records messages, native
(Avro blocks, views) against the Python mapping (decode + rows.py + inserts), embedded chdb.

    PYTHONPATH=$PWD python -m bench.clickhouse_native --records 20000 --batch 5000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from schemas.codec import codec_for
from sinks.clickhouse import ClickHouseSink, connect_clickhouse
from tests.factories import make_enriched

ORDER = (("native", True), ("python", False))  # native first: no merges of the other behind it
CATEGORIES = ("penalty", "license", "restriction", "registration", "inspection", "red_list")


@dataclass(frozen=True)
class Msg:
    _value: bytes
    _offset: int

    def value(self) -> bytes:
        return self._value

    def offset(self) -> int:
        return self._offset

    def partition(self) -> int:
        return 0

    def topic(self) -> str:
        return "credit.records"


def run(records: int, batch: int, work: Path) -> dict[str, float]:
    codec = codec_for("EnrichedRecord")
    made = [make_enriched(CATEGORIES[i % len(CATEGORIES)], n=i) for i in range(records)]
    messages = [Msg(v, i) for i, v in enumerate(codec.encode_many(made))]
    out: dict[str, float] = {"records": records, "batch": batch}
    for label, native in ORDER:
        sink = ClickHouseSink(connect_clickhouse(f"chdb://{work}", f"micro_{label}"), native)
        sink.setup()
        started = time.perf_counter()
        for i in range(0, records, batch):
            chunk = messages[i : i + batch]
            # The old loop decoded (SharedDecodes) before write_batch; both are timed here.
            sink.write_batch(chunk if native else codec.decode_many(m.value() for m in chunk))
        seconds = time.perf_counter() - started
        count = sink.client.query("SELECT count() FROM records_raw FINAL").result_rows[0][0]
        assert count == records, (label, count)
        out[f"{label}_records_per_s"] = round(records / seconds)
        out[f"{label}_us_per_record"] = round(seconds / records * 1e6, 1)
        sink.client.command(f"DROP DATABASE micro_{label}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="creditsync-micro-")) / "clickhouse"
    print(json.dumps(run(args.records, args.batch, work), indent=2))


if __name__ == "__main__":
    main()
