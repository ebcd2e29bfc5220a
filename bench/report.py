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
    ("restart_seconds", "  restart after a clean stop", "s"),
    ("restart_restored_records", "  changelog records read at it", "records"),
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
    "restart_seconds": "registry_codes",
    "restart_restored_records": "registry_codes",
}


def _number(value: Any, unit: str) -> str:
    if value is None:
        return "[dim]not measured[/dim]"
    if unit == "events/s" or unit == "MB":
        return f"{value:,.0f}{' MB' if unit == 'MB' else '/s'}"
    if unit == "µs":
        return f"{value:,.1f} µs"
    if unit in ("s", "records"):
        return f"{value:,.1f} s" if unit == "s" else f"{value:,}"
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


# (key, label, unit) of `creditsync bench --scale N` (issue #18).
SCALE_ROWS: tuple[tuple[str, str, str], ...] = (
    ("scale_worker_rss_mb", "stage worker peak RSS", "MB"),
    ("scale_first_start_after_load_s", "first start after the load", "s"),
    ("scale_restart_to_processing_s", "restart → processing, clean stop", "s"),
    ("scale_full_restore_s", "full restore from changelogs", "s"),
    ("scale_redis_bytes_per_enterprise", "Redis memory per enterprise", "B"),
    ("scale_lookup_p50_ms", "look-up p50 at 1,000 events/s", "ms"),
    ("scale_lookup_p99_ms", "look-up p99 at 1,000 events/s", "ms"),
    ("scale_search_p50_ms", "search p50 at 1,000 events/s", "ms"),
    ("scale_search_p99_ms", "search p99 at 1,000 events/s", "ms"),
    ("scale_visible_p99_ms", "emitted → visible p99 under that load", "ms"),
)


def _scale_value(value: Any, unit: str) -> str:
    if value is None:
        return "[dim]—[/dim]"
    return {"MB": f"{value:,.0f} MB", "s": f"{value:,.1f} s", "B": f"{value:,.0f} B"}.get(
        unit, f"{value:,.2f} ms"
    )


def scale_table(document: dict[str, Any]) -> Table:
    """The scale run's figures, its targets and its projections (marked as such)."""
    n = document.get("scale_enterprises") or 0
    projections = sorted(
        (k for k in document if k.startswith("scale_projection_")),
        key=lambda k: int(k.rsplit("_", 1)[1].rstrip("m")),
    )
    table = Table(title=f"creditsync bench --scale {n:,} ({document.get('scale_state_store')})")
    projected_columns = [p.rsplit("_", 1)[1].upper() + " (proj.)" for p in projections]
    for column in ("figure", "measured", *projected_columns, "target", "met"):
        table.add_column(column)
    targets = document.get("scale_targets", {})
    for key, label, unit in SCALE_ROWS:
        target = targets.get(key, {})
        met = target.get("met")
        if met is None and projections:
            met = document[projections[0]].get("targets", {}).get(key, {}).get("met")
            met = None if met is None else f"{'yes' if met else 'no'} (proj.)"
        else:
            met = {True: "[green]yes[/green]", False: "[red]no[/red]", None: ""}[met]
        projected = []
        for p in projections:
            value = document[p].get(key)
            if key == "scale_redis_bytes_per_enterprise":
                used = document[p].get("scale_redis_used_gb")
                projected.append("" if used is None else f"{used:,.1f} GB total")
            else:
                projected.append(_scale_value(value, unit) if value is not None else "")
        table.add_row(
            label,
            _scale_value(document.get(key), unit),
            *projected,
            target.get("target", ""),
            met,
        )
    return table
