"""Records/s through the HTTP intake (`POST /v1/intake/{category}`) on a running broker and Redis.

    python -m bench.http_intake_rate --bootstrap 127.0.0.1:9092 \
        --redis-url redis://127.0.0.1:6379/0 [--records 20000] [--batch 500]

The app is driven in-process through its ASGI interface (FastAPI's TestClient), so the figure
is the intake's own cost — token check, parsing the template fields, validation, the
idempotency ledger in Redis, Avro encoding and the acknowledged publish — without a network
hop. Records are penalties with distinct decision numbers under a throw-away topic prefix;
a second pass re-sends the same records and must publish nothing new.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from creditsync.http import HttpDeps, create_http_app
from creditsync.local import create_topics
from producers.departments import hash_token, load_departments
from producers.http_intake import HttpIntake
from producers.ledger import PublishedLedger
from producers.publisher import KafkaPublisher
from schemas.kafka.config import kafka_at
from schemas.topics import topic_specs
from sinks.publicity import PublicityReader
from sinks.redis_client import open_redis
from tests.factories import make_codes

TOKEN = "bench-token-" + "b" * 24


def penalty(n: int) -> dict[str, object]:
    return {
        "统一社会信用代码（企业注册号）": make_codes(n % 20000)["uscc"],
        "企业名称": f"宁夏压测企业{n % 20000}有限公司",
        "作出行政处罚决定机关名称": "西吉县市场监督管理局",
        "行政处罚决定书文号": f"西市监罚〔2025〕{n}号",
        "作出行政处罚决定日期": "2025-03-01",
        "违法行为类型": "销售过期食品",
        "罚款金额（元）": "5000",
        "处罚种类": "罚款",
    }


def measure(bootstrap: str, redis_url: str, records: int, batch: int) -> dict[str, float]:
    prefix = f"bench{uuid.uuid4().hex[:8]}."
    create_topics(kafka_at(bootstrap), topic_specs(prefix=prefix, partitions=4))
    with tempfile.TemporaryDirectory() as tmp:
        departments = Path(tmp) / "departments.toml"
        departments.write_text(
            f'[[departments]]\ncode = "scjg-640000"\nname = "宁夏回族自治区市场监督管理厅"\n'
            f'token_sha256 = "{hash_token(TOKEN)}"\ncategories = ["penalty"]\n',
            encoding="utf-8",
        )
        client = open_redis(redis_url)
        intake = HttpIntake(
            departments=load_departments(departments),
            publisher=KafkaPublisher(kafka_at(bootstrap)),
            ledger=PublishedLedger(client),
            topic_prefix=prefix,
        )
        app = create_http_app(HttpDeps(reader=PublicityReader(client), intake=intake))
        bodies = [
            {"records": [penalty(n) for n in range(i, min(i + batch, records))]}
            for i in range(0, records, batch)
        ]
        figures: dict[str, float] = {"records": records, "batch": batch}
        with TestClient(app) as http:
            for label in ("first_pass", "repeat_pass"):
                began = time.perf_counter()
                for body in bodies:
                    response = http.post(
                        "/v1/intake/penalty",
                        json=body,
                        headers={"Authorization": f"Bearer {TOKEN}"},
                    )
                    if response.status_code != 200:
                        raise SystemExit(f"{response.status_code}: {response.text[:500]}")
                took = time.perf_counter() - began
                figures[f"{label}_records_per_s"] = round(records / took, 1)
        client.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    print(json.dumps(measure(args.bootstrap, args.redis_url, args.records, args.batch)))


if __name__ == "__main__":
    main()
