"""The benchmark's table on screen and its JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.table import Table

# (key, label, unit) in the order the table shows them.
ROWS: tuple[tuple[str, str, str], ...] = (
    ("baseline_events_per_s", "(a) confluent consume+decode", "events/s"),
    ("baseline_aiokafka_events_per_s", "(b) aiokafka getmany+decode", "events/s"),
    ("baseline_produce_events_per_s", "produce, adapters' settings", "events/s"),
    ("pipeline_events_per_s", "pipeline intake → both sinks", "events/s"),
    ("pipeline_split_events_per_s", "  same, stages in a 2nd process", "events/s"),
    ("pipeline_processes_events_per_s", "  same, processes as `run` has them", "events/s"),
    ("pipeline_cpu_us_per_event", "  CPU per event, one process", "µs"),
    ("pipeline_split_cpu_us_per_event", "  CPU per event, stages in a 2nd", "µs"),
    ("pipeline_processes_cpu_us_per_event", "  CPU per event, as `run`", "µs"),
    ("intake_events_per_s", "  intake (resolve + enrich)", "events/s"),
    ("items_events_per_s", "  items", "events/s"),
    ("clickhouse_sink_events_per_s", "  ClickHouse sink", "events/s"),
    ("publicity_sink_events_per_s", "  publicity sink", "events/s"),
    ("publicity_redis_cpu_us_per_record", "    Redis CPU per record", "µs"),
    ("echo_p99_ms", "(c) echo p99", "ms"),
    ("pipeline_p50_ms", "emitted → visible p50", "ms"),
    ("pipeline_p95_ms", "emitted → visible p95", "ms"),
    ("pipeline_p99_ms", "emitted → visible p99", "ms"),
    ("pipeline_split_p50_ms", "  p50, stages in a 2nd process", "ms"),
    ("pipeline_split_p99_ms", "  p99, stages in a 2nd process", "ms"),
    ("pipeline_processes_p50_ms", "  p50, processes as `run` has them", "ms"),
    ("pipeline_processes_p99_ms", "  p99, processes as `run` has them", "ms"),
    ("replay_events_per_s", "replay into both sinks", "events/s"),
    ("replay_clickhouse_events_per_s", "  replay into ClickHouse alone", "events/s"),
    ("replay_publicity_events_per_s", "  replay into publicity alone", "events/s"),
    ("lookup_p50_ms", "profile look-up p50", "ms"),
    ("lookup_p99_ms", "profile look-up p99", "ms"),
    ("search_p50_ms", "search p50", "ms"),
    ("search_p99_ms", "search p99", "ms"),
    ("dashboard_max_p50_ms", "slowest dashboard view p50", "ms"),
    ("worker_peak_rss_mb", "worker peak RSS", "MB"),
)
# Short forms of bench.stats.TARGETS for an 80-column terminal.
SHORT_TARGETS = {
    "pipeline_events_per_s": "≥25k/s, ≥0.2×(a)",
    "pipeline_p99_ms": "≤ echo+40 ms",
    "pipeline_processes_events_per_s": "≥0.2×(a)",
    "pipeline_processes_p99_ms": "≤ echo+40 ms",
    "replay_events_per_s": "≥50k/s",
    "replay_clickhouse_events_per_s": "≥2×(a)",
    "replay_publicity_events_per_s": "≥0.5×(a)",
    "lookup_p99_ms": "≤2 ms @1M",
    "search_p99_ms": "≤10 ms @1M",
    "worker_peak_rss_mb": "≤1.5 GB @1M",
}
SCALE_NOTES = {
    "lookup_p99_ms": "lookup_enterprises",
    "search_p99_ms": "lookup_enterprises",
    "lookup_p50_ms": "lookup_enterprises",
    "search_p50_ms": "lookup_enterprises",
    "dashboard_max_p50_ms": "dashboard_rows",
    "worker_peak_rss_mb": "registry_codes",
}


def _number(value: Any, unit: str) -> str:
    if value is None:
        return "[dim]not measured[/dim]"
    if unit == "events/s" or unit == "MB":
        return f"{value:,.0f}{' MB' if unit == 'MB' else '/s'}"
    if unit == "µs":
        return f"{value:,.1f} µs"
    return f"{value:,.1f} ms"


def figures_table(document: dict[str, Any]) -> Table:
    table = Table(
        title="creditsync bench" + (" (--quick)" if document["plan"].get("quick") else "")
    )
    for column in ("figure", "value", "at", "×(a)", "target", "met"):
        table.add_column(column)
    baseline = document.get("baseline_events_per_s")
    targets = document.get("targets", {})
    for key, label, unit in ROWS:
        value = document.get(key)
        scale = document.get(SCALE_NOTES.get(key, ""), "")
        versus = (
            f"{value / baseline:.3f}"
            if unit == "events/s" and value and baseline and key != "baseline_events_per_s"
            else ""
        )
        met = targets.get(key, {}).get("met")
        shown = {True: "[green]yes[/green]", False: "[red]no[/red]", None: ""}[met]
        table.add_row(
            label,
            _number(value, unit),
            _scale(scale),
            versus,
            SHORT_TARGETS.get(key, ""),
            shown,
        )
    return table


def write_json(document: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n")


def _scale(scale: Any) -> str:
    if not scale:
        return ""
    return f"{scale / 1_000_000:g}M" if scale >= 1_000_000 else f"{scale / 1000:g}k"
