"""`creditsync ingest`: a spreadsheet in the national template, published or rejected row by row.

Streams the file in batches (bounded memory for any size): each batch is checked against the
ledger, the new events are published and acknowledged, then recorded in the ledger; rejected
rows go to PATH.rejected.csv and to credit.rejected with their reasons. At the end the control
totals of the file are published for the analysts (declared vs received vs published).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from producers.events import RecordRejection, control_totals_event
from producers.ledger import PublishedLedger
from producers.publisher import (
    KafkaPublisher,
    OutgoingRecord,
    intake_record,
    rejection_record,
)
from producers.rejections_file import RejectionsFile
from producers.spreadsheet import ADAPTER, Sheet, parse_spreadsheet
from producers.templates import infer_category
from schemas.categories import Category
from schemas.codec import encode_intake, fingerprint_of
from schemas.records import Department, IntakeEvent
from schemas.topics import CONTROL_TOTALS

BATCH = 5000
Progress = Callable[[int], None]


@dataclass
class IngestSummary:
    path: Path
    category: str | None = None
    read: int = 0
    published: int = 0
    already_published: int = 0
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    rejections_file: Path | None = None
    # The department's own count of rows (a trailer row 合计,N or a sidecar PATH.total);
    # None when it sent none, never the adapter's count (对账 must catch our losses).
    declared: int | None = None

    @property
    def rejected(self) -> int:
        return sum(self.rejected_by_reason.values())

    @property
    def exit_code(self) -> int:
        """DESIGN.md: 0 all sent, 3 some rejected (1, failed, is raised, not returned)."""
        return 3 if self.rejected else 0


def _batches(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(items, size)):
        yield batch


def ingest_file(
    path: Path,
    department: Department,
    *,
    publisher: KafkaPublisher,
    ledger: PublishedLedger,
    category: Category | None = None,
    topic_prefix: str = "",
    progress: Progress | None = None,
    emitted_at: dt.datetime | None = None,
    check_category: Callable[[str], None] | None = None,
    backfill: bool = False,
    networked: bool = True,
) -> IngestSummary:
    """`check_category`: raises when the department may not submit the file's category
    (given, or inferred from the headers); called before anything is published.
    `backfill`: the file is a back-load (存量, `ingest --backfill`): published as usual, kept
    out of timeliness figures; `networked`: the department's network status (registrations
    due in 1 working day if networked, 5 if not)."""
    summary = IngestSummary(path, declared=sidecar_total(path))
    if check_category is not None:
        if category is None:
            with Sheet(path) as sheet:
                category = infer_category(sheet.headers)
        check_category(category)
    # Written batch by batch: a file of rejections only must not be held in memory.
    rejections = RejectionsFile(path)
    emitted = emitted_at or dt.datetime.now(dt.UTC)
    rows = parse_spreadsheet(path, department, category, emitted_at=emitted)
    try:
        for batch in _batches(rows, BATCH):
            events = [e for e in batch if isinstance(e, dict)]
            for event in events:
                event["backfill"], event["networked"] = backfill, networked
            refused = []
            for r in (r for r in batch if isinstance(r, RecordRejection)):
                total = trailer_total(r.row)
                if total is None:
                    refused.append(r)
                else:
                    summary.declared = total
            summary.read += len(events) + len(refused)
            if events:
                summary.category = events[0]["category"]
            _publish_batch(events, department, publisher, ledger, topic_prefix, summary)
            if refused:
                cat = summary.category or category or "unknown"
                publisher.publish(
                    rejection_record(
                        r, category=cat, department_code=department["code"], adapter=ADAPTER,
                        fields=dict(r.row or {}), topic_prefix=topic_prefix,
                    )
                    for r in refused
                )  # fmt: skip
                for r in refused:
                    summary.rejected_by_reason[r.code] += 1
                rejections.add(refused)
            if progress is not None:
                progress(len(batch))
    finally:
        summary.rejections_file = rejections.close()
    _publish_control_totals(summary, department, publisher, topic_prefix, emitted)
    return summary


TRAILER_LABELS = frozenset({"合计", "总计", "合计条数", "total"})


def _count(text: Any) -> int | None:
    text = str(text if text is not None else "").strip().replace(",", "")
    if text.endswith("条"):
        text = text[:-1]
    return int(text) if text.isdigit() else None


def trailer_total(row: Any) -> int | None:
    """N when a spreadsheet row is the control-total trailer `合计,N` (its first non-empty
    cell 合计/总计, the next one a count), else None."""
    if not isinstance(row, dict):
        return None
    cells = [v for v in row.values() if v not in (None, "")]
    if len(cells) != 2 or str(cells[0]).strip().lower() not in TRAILER_LABELS:
        return None
    return _count(cells[1])


def sidecar_total(path: Path) -> int | None:
    """The count in `PATH.total` (`N` or `合计,N`), when the department sent one."""
    sidecar = path.with_name(path.name + ".total")
    if not sidecar.is_file():
        return None
    text = sidecar.read_text(encoding="utf-8-sig").strip()
    label, comma, number = text.partition(",")
    if not comma:
        return _count(label)
    if label.strip().lower() not in TRAILER_LABELS:
        return None
    return _count(number)


def _publish_batch(
    events: list[IntakeEvent],
    department: Department,
    publisher: KafkaPublisher,
    ledger: PublishedLedger,
    topic_prefix: str,
    summary: IngestSummary,
) -> None:
    if not events:
        return
    ids = [e["event_id"] for e in events]
    seen = ledger.already_published(department["code"], ids)
    # A file may hold the same record twice: publish it once.
    fresh: dict[str, IntakeEvent] = {}
    for event in events:
        if event["event_id"] not in seen:
            fresh.setdefault(event["event_id"], event)
    records: list[OutgoingRecord] = []
    for event in fresh.values():
        value = encode_intake(event)
        records.append(intake_record(event, value, fingerprint_of(value), topic_prefix))
    publisher.publish(records)
    ledger.record_published(department["code"], list(fresh))
    summary.published += len(fresh)
    summary.already_published += len(events) - len(fresh)


def _publish_control_totals(
    summary: IngestSummary,
    department: Department,
    publisher: KafkaPublisher,
    topic_prefix: str,
    emitted: dt.datetime,
) -> None:
    import json

    totals = control_totals_event(
        department,
        summary.category or "unknown",  # type: ignore[arg-type]
        summary.path.name,
        summary.declared,
        summary.published,
        summary.already_published,
        dict(summary.rejected_by_reason),
        emitted_at=emitted,
    )
    publisher.publish(
        [
            OutgoingRecord(
                topic=f"{topic_prefix}{CONTROL_TOTALS}",
                key=department["code"].encode(),
                value=json.dumps(totals, ensure_ascii=False).encode(),
                headers=[("department", department["code"].encode())],
            )
        ]
    )
