"""`creditsync status`: lag, counts per stage, parked records and open notices.

Counts come from the topics themselves (watermarks, and a read of the small operational
topics), so status works while the workers are down and needs no ClickHouse.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from creditsync.ops.dead_letters import latest_by_key
from creditsync.ops.kafka_read import read_all
from creditsync.ops.lag import (
    LagReader,
    PartitionLag,
    lag_by_topic,
    stalled_groups,
    worker_groups,
)
from creditsync.reports.export import Sheet
from schemas.categories import CATEGORIES
from schemas.kafka.config import KafkaSettings
from schemas.topics import (
    INTAKE_PREFIX,
    NOTICES_PREFIX,
    PARKED,
    RECORDS,
    REJECTED,
    REJECTED_REDRIVEN,
    RESOLVED,
    intake_topic,
)
from streams.rules.notices import open_notice_age_days


@dataclass(frozen=True, slots=True)
class ParkedSummary:
    """Records waiting for their subject's registration (parked), and those released."""

    waiting: int
    released: int
    oldest_parked_at: str | None
    oldest_age_seconds: float | None


def parked_summary(latest: Mapping[str, Mapping[str, Any]], now: dt.datetime) -> ParkedSummary:
    """From the newest credit.parked value per record: how many still wait, the oldest's age."""
    waiting = [v for v in latest.values() if v.get("state") == "parked"]
    released = sum(1 for v in latest.values() if v.get("state") == "redriven")
    if not waiting:
        return ParkedSummary(0, released, None, None)
    oldest = min(dt.datetime.fromisoformat(v["parked_at"]) for v in waiting)
    return ParkedSummary(
        len(waiting), released, oldest.isoformat(), max(0.0, (now - oldest).total_seconds())
    )


@dataclass(frozen=True, slots=True)
class OpenNotice:
    notice_id: str
    department: str
    uscc: str
    canonical_name: str
    stage: str
    initiated_on: str
    age_days: int


# `creditsync notices list --format csv|xlsx`: the columns in Chinese, for the departments
# and the credit office who read the export.
NOTICE_HEADERS = ("通知编号", "信息接收部门", "统一社会信用代码", "企业名称", "阶段", "发起日期",
                  "已等待天数")  # fmt: skip


def notice_sheet(notices: Iterable[OpenNotice], title: str = "待反馈联合惩戒通知") -> Sheet:
    """Open notices as one exported table (creditsync/reports/export.py: formula-safe)."""
    rows = [(n.notice_id, n.department, n.uscc, n.canonical_name, n.stage, n.initiated_on,
             n.age_days) for n in notices]  # fmt: skip
    return Sheet(title, NOTICE_HEADERS, rows)


def open_notices(latest: Mapping[str, Mapping[str, Any]], today: dt.date) -> list[OpenNotice]:
    """Joint-punishment notices not fed back yet (seed 003 item 16), oldest first."""
    out = []
    for notice in latest.values():
        age = open_notice_age_days(notice, today)  # type: ignore[arg-type]
        if age is None:
            continue
        out.append(
            OpenNotice(
                notice["notice_id"],
                notice.get("department_name") or notice.get("department_code", ""),
                notice.get("uscc", ""),
                notice.get("canonical_name", ""),
                notice["stage"],
                notice["initiated_on"],
                age,
            )
        )
    return sorted(out, key=lambda n: (-n.age_days, n.notice_id))


def newest_notice_states(values: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The latest state per notice id, in log order (a later stage replaces an earlier)."""
    latest: dict[str, Mapping[str, Any]] = {}
    for value in values:
        latest[value["notice_id"]] = value
    return latest


OLDEST_SHOWN = 5  # open notices `creditsync status` lists; `creditsync notices list` has all


def notices_by_department(notices: Iterable[OpenNotice]) -> list[dict[str, Any]]:
    """Open notices counted per receiving department and stage, most first."""
    counts: dict[tuple[str, str], int] = {}
    for n in notices:
        counts[(n.department, n.stage)] = counts.get((n.department, n.stage), 0) + 1
    return [
        {"department": d, "stage": s, "notices": c}
        for (d, s), c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def collect_open_notices(
    kafka: KafkaSettings, prefix: str, now: dt.datetime | None = None
) -> list[OpenNotice]:
    """Every open notice on the credit.notices.<department> topics, oldest first."""
    from confluent_kafka.admin import AdminClient

    from schemas.kafka.config import client_config
    from schemas.kafka.lag import ADMIN_TIMEOUT

    now = now or dt.datetime.now(dt.UTC)
    admin = AdminClient(client_config(kafka))
    names = admin.list_topics(timeout=ADMIN_TIMEOUT).topics
    topics = sorted(t for t in names if t.startswith(f"{prefix}{NOTICES_PREFIX}"))
    latest = newest_notice_states(
        json.loads(m.value()) for m in read_all(kafka, topics, "status-notices") if m.value()
    )
    return open_notices(latest, _china_today(now))


@dataclass
class PipelineStatus:
    groups: list[str]
    lag: list[PartitionLag]
    stage_counts: dict[str, int]
    rejected_total: int
    rejected_open: int
    parked: ParkedSummary
    notices: list[OpenNotice] = field(default_factory=list)
    # Groups with lag and no commit for STALL_SECONDS: seconds since their last commit.
    stalled: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "groups": self.groups,
            "lag": [{**asdict(x), "lag": x.lag} for x in self.lag],
            "lag_by_topic": [asdict(t) for t in lag_by_topic(self.lag)],
            "stage_counts": self.stage_counts,
            "rejected": {"total": self.rejected_total, "open": self.rejected_open},
            "parked": asdict(self.parked),
            # Counts and the oldest few: a province has thousands (creditsync notices list).
            "open_notices": {
                "count": len(self.notices),
                "by_department": notices_by_department(self.notices),
                "oldest": [asdict(n) for n in self.notices[:OLDEST_SHOWN]],
            },
            "stalled": self.stalled,
        }


def collect_status(
    kafka: KafkaSettings,
    prefix: str,
    worker_id: str,
    *,
    now: dt.datetime | None = None,
    extra_groups: Iterable[str] = (),
) -> PipelineStatus:
    """Everything `creditsync status` shows beyond service health."""
    from schemas.dead_letters import rejected_topic

    now = now or dt.datetime.now(dt.UTC)
    reader = LagReader(kafka)
    groups = sorted({*worker_groups(reader, prefix, worker_id), *extra_groups})
    lag = reader.lags(groups)
    names = reader.topic_names()
    notice_topics = sorted(t for t in names if t.startswith(f"{prefix}{NOTICES_PREFIX}"))
    intake = [intake_topic(c, prefix) for c in CATEGORIES]
    counted = [*intake, f"{prefix}{RESOLVED}", f"{prefix}{RECORDS}", rejected_topic(prefix)]
    marks = reader.topic_watermarks(counted)

    def size(topic: str) -> int:
        low, high = marks.get(topic, (0, 0))
        return high - low

    redriven = latest_by_key(
        (m.key(), m.value())
        for m in read_all(
            kafka, _existing(names, f"{prefix}{REJECTED_REDRIVEN}"), "status-redriven"
        )
    )
    parked = latest_by_key(
        (m.key(), m.value())
        for m in read_all(kafka, _existing(names, f"{prefix}{PARKED}"), "status-parked")
    )
    notices = newest_notice_states(
        json.loads(m.value()) for m in read_all(kafka, notice_topics, "status-notices") if m.value()
    )
    rejected_total = size(f"{prefix}{REJECTED}")
    return PipelineStatus(
        groups=groups,
        lag=lag,
        stage_counts={
            f"intake ({INTAKE_PREFIX}*)": sum(size(t) for t in intake),
            RESOLVED: size(f"{prefix}{RESOLVED}"),
            RECORDS: size(f"{prefix}{RECORDS}"),
        },
        rejected_total=rejected_total,
        rejected_open=max(0, rejected_total - len(redriven)),
        parked=parked_summary(parked, now),
        notices=open_notices(notices, _china_today(now)),
        stalled=stalled_groups(lag, now.timestamp()),
    )


def _existing(names: set[str], topic: str) -> list[str]:
    return [topic] if topic in names else []


def _china_today(now: dt.datetime) -> dt.date:
    # Notices are dated in China Standard Time (streams.rules.notices uses china_date).
    return (now.astimezone(dt.timezone(dt.timedelta(hours=8)))).date()
