"""Helpers of the integration tests: run a worker until a condition holds, read stores."""

from __future__ import annotations

import asyncio
from typing import Any

from confluent_kafka import Consumer

from schemas.topics import REJECTED
from streams.app import WorkerConfig, build_app
from streams.worker import run_worker


def run_until(config: WorkerConfig, condition, timeout: float = 90.0) -> bool:
    async def main() -> bool:
        return await run_worker(build_app(config), until=condition, timeout=timeout)

    return asyncio.run(main())


def rejected_messages(bootstrap: str, prefix: str, expected: int) -> list[Any]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{prefix}check",
                         "auto.offset.reset": "earliest"})  # fmt: skip
    consumer.subscribe([f"{prefix}{REJECTED}"])
    found = []
    try:
        for _ in range(60):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                found.append(msg)
            if len(found) >= expected:
                break
    finally:
        consumer.close()
    return found


def count(client, database: str, sql: str) -> int:
    return int(client.query(sql.replace("{db}", database)).result_rows[0][0])
