"""Pure arithmetic of the benchmark report: percentiles, rates, ratios, the JSON's shape."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

# The keys every results file has at its top level (issue #8), so runs can be compared.
REQUIRED_KEYS: tuple[str, ...] = (
    "baseline_events_per_s",
    "pipeline_events_per_s",
    "echo_p99_ms",
    "pipeline_p99_ms",
    "replay_events_per_s",
    "lookup_p99_ms",
    "search_p99_ms",
    "worker_peak_rss_mb",
)

# The targets of issue #8; `None` thresholds are computed from other figures.
TARGETS: dict[str, str] = {
    "pipeline_events_per_s": "≥ 25,000 events/s and ≥ 0.2 × baseline (a)",
    "pipeline_p99_ms": "≤ echo p99 + 40 ms at 1,000 events/s",
    "pipeline_processes_events_per_s": "≥ 0.2 × baseline (a), processes as `run` has them",
    "pipeline_processes_p99_ms": "≤ echo p99 + 40 ms at 1,000 events/s, processes as `run`",
    "replay_events_per_s": "≥ 50,000 events/s",
    "replay_clickhouse_events_per_s": "≥ 2 × baseline (a) (issue #15)",
    "replay_publicity_events_per_s": "≥ 0.5 × baseline (a) (issue #15)",
    "lookup_p99_ms": "≤ 2 ms at 1,000,000 enterprises",
    "search_p99_ms": "≤ 10 ms at 1,000,000 enterprises",
    "worker_peak_rss_mb": "≤ 1,536 MB at 1,000,000 codes",
}


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation between closest ranks (numpy's
    default), so p50 of [1, 2, 3, 4] is 2.5 and a single sample is every percentile."""
    if not samples:
        raise ValueError("percentile of no samples: the measurement produced none")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q}: expected 0 ≤ q ≤ 100")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 / max in milliseconds (rounded to µs) and the sample count."""
    summary = {f"p{q}_ms": round(percentile(seconds, q) * 1000, 3) for q in (50, 95, 99)}
    summary["max_ms"] = round(max(seconds) * 1000, 3)
    summary["samples"] = len(seconds)
    return summary


def rate(count: int, seconds: float) -> float:
    """Events per second, rounded to one decimal; a zero or negative duration is an error
    (it means the clock was read in the wrong order, not that the work was infinitely fast)."""
    if seconds <= 0:
        raise ValueError(f"rate of {count} events over {seconds}s: expected a positive duration")
    return round(count / seconds, 1)


def ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline to 3 places, None when either is missing or the baseline is zero."""
    if value is None or not baseline:
        return None
    return round(value / baseline, 3)


def target_checks(figures: Mapping[str, Any]) -> dict[str, bool | None]:
    """Whether each target of issue #8 is met; None when the figure was not measured.

    Query and memory targets are stated at 1,000,000 enterprises / codes: a run at a
    smaller scale (--quick) is not judged against them (None)."""

    def get(key: str) -> float | None:
        value = figures.get(key)
        return float(value) if isinstance(value, int | float) else None

    pipeline, baseline = get("pipeline_events_per_s"), get("baseline_events_per_s")
    p99, echo = get("pipeline_p99_ms"), get("echo_p99_ms")
    full_index = figures.get("lookup_enterprises") == 1_000_000
    full_registry = figures.get("registry_codes") == 1_000_000
    checks: dict[str, bool | None] = {
        "pipeline_events_per_s": None
        if pipeline is None or baseline is None
        else pipeline >= 25_000 and pipeline >= 0.2 * baseline,
        "pipeline_p99_ms": None if p99 is None or echo is None else p99 <= echo + 40,
        "replay_events_per_s": None
        if get("replay_events_per_s") is None
        else get("replay_events_per_s") >= 50_000,  # type: ignore[operator]
    }
    processes, processes_p99 = (
        get("pipeline_processes_events_per_s"),
        get("pipeline_processes_p99_ms"),
    )
    checks["pipeline_processes_events_per_s"] = (
        None if processes is None or baseline is None else processes >= 0.2 * baseline
    )
    checks["pipeline_processes_p99_ms"] = (
        None if processes_p99 is None or echo is None else processes_p99 <= echo + 40
    )
    for target, factor in (("clickhouse", 2.0), ("publicity", 0.5)):
        value = get(f"replay_{target}_events_per_s")
        checks[f"replay_{target}_events_per_s"] = (
            None if value is None or baseline is None else value >= factor * baseline
        )
    lookup, search, rss = get("lookup_p99_ms"), get("search_p99_ms"), get("worker_peak_rss_mb")
    checks["lookup_p99_ms"] = None if lookup is None or not full_index else lookup <= 2
    checks["search_p99_ms"] = None if search is None or not full_index else search <= 10
    checks["worker_peak_rss_mb"] = None if rss is None or not full_registry else rss <= 1536
    return checks


def results_document(
    figures: Mapping[str, Any],
    sections: Mapping[str, Any],
    machine: Mapping[str, Any],
    plan: Mapping[str, Any],
) -> dict[str, Any]:
    """The JSON written by `--json`: the headline figures at the top level (every required
    key present, null when not measured), then the targets, the plan, the machine and
    each section's detail."""
    document: dict[str, Any] = {key: figures.get(key) for key in REQUIRED_KEYS}
    document.update({k: v for k, v in figures.items() if k not in document})
    document["pipeline_to_baseline_ratio"] = ratio(
        figures.get("pipeline_events_per_s"), figures.get("baseline_events_per_s")
    )
    document["pipeline_processes_to_baseline_ratio"] = ratio(
        figures.get("pipeline_processes_events_per_s"), figures.get("baseline_events_per_s")
    )
    for target in ("clickhouse", "publicity"):
        document[f"replay_{target}_to_baseline_ratio"] = ratio(
            figures.get(f"replay_{target}_events_per_s"), figures.get("baseline_events_per_s")
        )
    document["targets"] = {
        key: {"target": TARGETS[key], "met": met} for key, met in target_checks(document).items()
    }
    document["plan"] = dict(plan)
    document["machine"] = dict(machine)
    document["sections"] = dict(sections)
    return document
