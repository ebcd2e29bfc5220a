"""The demo answers its notices, and the sample feedback file names notices the demo sends."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

from producers.demo import DemoFeed
from schemas.records import item_id
from streams.rules.notices import notice_id, receiving_departments

SAMPLE = Path(__file__).resolve().parents[2] / "producers" / "samples" / "notice_feedback.csv"


def demo_events(today: dt.date, count: int = 600) -> list[dict]:
    feed = DemoFeed(today=today)
    events = [e for e in feed.events(count) if isinstance(e, dict)]
    # Every code an enterprise is sent under, to its USCC (records come under legacy codes).
    uscc_of = {}
    for e in feed.enterprises + feed.late_registrations:
        for code in (e["uscc"], e["registration_number"], e["organisation_code"]):
            uscc_of[code] = e["uscc"]
    for e in events:
        sent = e["subject"]
        e["test_uscc"] = next(
            uscc_of[c] for c in (sent["uscc"], sent["registration_number"],
                                 sent["organisation_code"]) if c in uscc_of
        ) if e["category"] != "registration" else e["payload"]["uscc"]  # fmt: skip
    return events


def sent_notices(events: list[dict], department: str) -> dict[str, int]:
    """Notice id -> position in the feed, of the restrictions the demo sends."""
    ids = {}
    for at, e in enumerate(events):
        if e["category"] == "restriction":
            item = item_id("restriction", e["record_key"])
            assert department in receiving_departments(e["payload"]["receiving_departments"])
            ids[notice_id(e["test_uscc"], item, department)] = at
    return ids


def test_the_sample_feedback_names_notices_the_demo_sends_whatever_the_day() -> None:
    with open(SAMPLE, encoding="utf-8-sig") as f:
        named = [row["通知编号"] for row in csv.DictReader(f)]
    assert len(named) == 6
    for today in (dt.date(2026, 12, 2), dt.date(2027, 5, 17)):
        sent = sent_notices(demo_events(today), "住建局")
        assert set(named) <= set(sent), today
    # Within the first few hundred events: a short demo run has sent them all.
    assert max(sent[n] for n in named) < 600


def test_the_demo_tax_bureau_answers_its_notices() -> None:
    events = demo_events(dt.date(2026, 12, 2), 1200)
    sent = sent_notices(events, "税务局")
    answers = [e for e in events if e["category"] == "notice_feedback"]
    assert {a["department"]["code"] for a in answers} == {"sw-640000"}
    assert {a["payload"]["feedback_stage"] for a in answers} == {"responded", "fed_back"}
    assert {a["payload"]["notice_id"] for a in answers} <= set(sent)
    fed_back = [a for a in answers if a["payload"]["feedback_stage"] == "fed_back"]
    assert fed_back and all(a["payload"]["measures"] for a in fed_back)
