"""The shipped Grafana dashboard queries views that the ClickHouse migrations create."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sinks.clickhouse.migrations import MIGRATIONS

DASHBOARD = Path(__file__).resolve().parents[2] / "infra" / "grafana" / "creditsync-dashboard.json"


def test_every_panel_reads_a_view_the_migrations_create():
    created = set()
    for migration in MIGRATIONS:
        for statement in migration.statements:
            created |= set(re.findall(r"VIEW (?:IF NOT EXISTS )?(v_\w+)", statement))
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len(panels) >= 6
    for panel in panels:
        sql = panel["targets"][0]["rawSql"]
        views = set(re.findall(r"\bv_\w+", sql))
        assert views and views <= created, (panel["title"], views - created)
