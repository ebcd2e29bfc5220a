"""Topic names, partitions and retention in one declarative list (DESIGN.md "Flow").

`creditsync up` and the test fixtures create exactly these. A prefix lets tests and several
deployments share one broker without seeing each other's data.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.categories import CATEGORIES, Category

INTAKE_PREFIX = "credit.intake."
RECORDS = "credit.records"
REJECTED = "credit.rejected"
# Re-drives of dead letters (`creditsync rejected redrive`), compacted, keyed by the dead
# letter's ID: they leave the open rejected view while credit.rejected keeps the history.
REJECTED_REDRIVEN = "credit.rejected-redriven"
PARKED = "credit.parked"
QUALITY = "credit.quality"
# Internal to streams/: registrations re-keyed by each legacy code, so a record keyed by a
# registration number or organisation code finds its USCC in the same partition; and resolved
# records keyed by USCC, where per-item state (changes, objections, expiry) is kept.
REGISTRY_ALIASES = "credit.registry-aliases"
RESOLVED = "credit.resolved"
CONTROL_TOTALS = "credit.control-totals"
# The stream stages' derivation generation per consumer group, bumped by
# `creditsync replay --stage streams` (streams/rules/versioning.py `derived_version`); compacted.
DERIVATIONS = "credit.derivations"
NOTICES_PREFIX = "credit.notices."
# Every notice state of every department in one stream, for analytics (ClickHouse reads it;
# departments read their own credit.notices.<department>).
NOTICES_LOG = "credit.notices-log"
# Departments that receive joint-punishment notices get their topic on first use; these are
# the ones created up front (DOMAIN.md "The job in one paragraph").
DEFAULT_NOTICE_DEPARTMENTS = ("market", "tax", "court", "housing", "environment", "finance")

# Operator reassignments of item ownership (a department merged into another), keyed by the
# former owner's code; every worker and the HTTP server read it whole
# (streams/runtime/ownership_log.py).
OWNERSHIP = "credit.ownership"

FOREVER = -1
WEEK_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    # compact: only the newest value per key is needed (parked records, by event id).
    compact: bool = False
    purpose: str = ""


def intake_topic(category: Category | str, prefix: str = "") -> str:
    return f"{prefix}{INTAKE_PREFIX}{category}"


def notices_topic(department: str, prefix: str = "") -> str:
    return f"{prefix}{NOTICES_PREFIX}{department}"


def topic_specs(
    prefix: str = "", partitions: int = 4, record_retention_ms: int = FOREVER
) -> list[TopicSpec]:
    """Every topic the system uses. Intake and records are the system of record: kept
    indefinitely by default so either store can be rebuilt from them."""
    specs = [
        TopicSpec(intake_topic(c, prefix), partitions, record_retention_ms, purpose="intake")
        for c in CATEGORIES
    ]
    specs += [
        TopicSpec(f"{prefix}{RECORDS}", partitions, record_retention_ms, purpose="records"),
        TopicSpec(f"{prefix}{REGISTRY_ALIASES}", partitions, FOREVER, purpose="aliases"),
        TopicSpec(f"{prefix}{RESOLVED}", partitions, record_retention_ms, purpose="resolved"),
        TopicSpec(f"{prefix}{REJECTED}", 1, FOREVER, purpose="dead letters with reasons"),
        TopicSpec(f"{prefix}{PARKED}", partitions, FOREVER, compact=True, purpose="parked"),
        TopicSpec(f"{prefix}{REJECTED_REDRIVEN}", 1, FOREVER, compact=True, purpose="redriven"),
        TopicSpec(f"{prefix}{QUALITY}", 1, FOREVER, purpose="data-quality events"),
        TopicSpec(f"{prefix}{CONTROL_TOTALS}", 1, FOREVER, purpose="control totals"),
        TopicSpec(f"{prefix}{NOTICES_LOG}", 1, FOREVER, purpose="all notice states"),
        TopicSpec(f"{prefix}{OWNERSHIP}", 1, FOREVER, purpose="ownership reassignments"),
        TopicSpec(
            f"{prefix}{DERIVATIONS}", 1, FOREVER, compact=True, purpose="derivation generations"
        ),
    ]
    specs += [
        TopicSpec(notices_topic(d, prefix), 1, FOREVER, purpose="joint-punishment notices")
        for d in DEFAULT_NOTICE_DEPARTMENTS
    ]
    return specs
