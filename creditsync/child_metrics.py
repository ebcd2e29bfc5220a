"""The children's Prometheus metrics on the parent's /metrics (`creditsync run` with processes).

`run` starts the stages and sinks as child processes (streams/runtime/children.py), so their
counters (messages per stage, records per sink, end-to-end latency) live in other processes.
prometheus-client's multiprocess mode is the library's own answer: each child, started with
PROMETHEUS_MULTIPROC_DIR set, writes its values to mmap files in that directory, and
`MultiProcessCollector` sums them per label set. The parent itself keeps its ordinary
registry (it was imported before any directory was chosen), so /metrics merges the two into
one family per metric name — Prometheus refuses a name exposed twice.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def children_metrics_dir(data_dir: Path) -> Path:
    """Where `run`'s children write their metrics: one directory per data dir."""
    return data_dir / "metrics-children"


def fresh_metrics_dir(data_dir: Path) -> Path:
    """An empty children's metrics directory: the files of an earlier `run` would otherwise
    be summed into this one's counters (the library's documented start-up step)."""
    path = children_metrics_dir(data_dir)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    return path


def merge_families(*sources: Iterable[Metric]) -> list[Metric]:
    """One family per name; samples with the same name and labels are added up (a counter
    counted by the parent and by a child is one total)."""
    merged: dict[str, Metric] = {}
    values: dict[str, dict[tuple, int]] = {}
    for source in sources:
        for family in source:
            target = merged.get(family.name)
            if target is None:
                target = Metric(family.name, family.documentation, family.type, family.unit)
                merged[family.name], values[family.name] = target, {}
            index = values[family.name]
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                at = index.get(key)
                if at is None:
                    index[key] = len(target.samples)
                    target.samples.append(sample)
                else:
                    old = target.samples[at]
                    target.samples[at] = old._replace(value=old.value + sample.value)
    return list(merged.values())


class ParentAndChildren:
    """A collector of the parent's registry plus the children's multiprocess files."""

    def __init__(self, directory: Path, parent: CollectorRegistry = REGISTRY) -> None:
        self.directory, self.parent = directory, parent

    def collect(self) -> Iterator[Metric]:
        children: list[Metric] = []
        if self.directory.is_dir():
            children = list(
                MultiProcessCollector(None, path=str(self.directory)).collect()  # type: ignore[arg-type]
            )
        yield from merge_families(self.parent.collect(), children)


def exposition_registry(directory: Path | None) -> CollectorRegistry:
    """The registry /metrics renders: the parent's alone, or merged with its children's."""
    if directory is None:
        return REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ParentAndChildren(directory))  # type: ignore[arg-type]
    return registry
