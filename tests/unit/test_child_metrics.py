"""The children's metrics on the parent's /metrics: one family per name, values added up."""

from __future__ import annotations

import os
import subprocess
import sys

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from creditsync.child_metrics import (
    MULTIPROC_ENV,
    ParentAndChildren,
    fresh_metrics_dir,
    merge_families,
)

CHILD = """
from streams.runtime.metrics import STAGE_MESSAGES
STAGE_MESSAGES.labels("intake").inc(7)
STAGE_MESSAGES.labels("items").inc(2)
"""


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_counters_of_the_parent_and_of_two_child_processes_are_one_family(tmp_path):
    directory = fresh_metrics_dir(tmp_path)
    env = {**os.environ, MULTIPROC_ENV: str(directory)}
    for _ in range(2):  # two children, e.g. a stages child and its restart after kill -9
        subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, timeout=120)
    parent = CollectorRegistry()
    counter = Counter(
        "creditsync_stage_messages_total", "Messages a stage handled", ["stage"], registry=parent
    )
    counter.labels("intake").inc(1)
    exposed = CollectorRegistry(auto_describe=False)
    exposed.register(ParentAndChildren(directory, parent))  # type: ignore[arg-type]
    text = generate_latest(exposed).decode()
    # Exposed once: Prometheus refuses a metric name that appears in two families.
    assert text.count("# TYPE creditsync_stage_messages_total counter") == 1, text
    samples = _samples(text)
    assert samples[("creditsync_stage_messages_total", (("stage", "intake"),))] == 15.0
    assert samples[("creditsync_stage_messages_total", (("stage", "items"),))] == 4.0


def test_a_fresh_directory_forgets_an_earlier_runs_counts(tmp_path):
    directory = fresh_metrics_dir(tmp_path)
    env = {**os.environ, MULTIPROC_ENV: str(directory)}
    subprocess.run([sys.executable, "-c", CHILD], env=env, check=True, timeout=120)
    assert list(directory.iterdir())
    assert not list(fresh_metrics_dir(tmp_path).iterdir())


def test_merge_keeps_distinct_label_sets_apart():
    a, b = CollectorRegistry(), CollectorRegistry()
    Counter("x_total", "x", ["sink"], registry=a).labels("clickhouse").inc(3)
    Counter("x_total", "x", ["sink"], registry=b).labels("publicity").inc(5)
    merged = merge_families(a.collect(), b.collect())
    names = [f.name for f in merged]
    assert names.count("x") == 1
    values = {(s.name, s.labels.get("sink")): s.value for f in merged for s in f.samples}
    assert values[("x_total", "clickhouse")] == 3 and values[("x_total", "publicity")] == 5
