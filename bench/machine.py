"""What the benchmark ran on: CPU, memory, Python, Kafka and library versions."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from creditsync.services import KAFKA_LIB

LIBRARIES = (
    "aiokafka",
    "confluent-kafka",
    "fastavro",
    "redis",
    "hiredis",
    "chdb",
    "clickhouse-connect",
)
_KAFKA_JAR = re.compile(r"^kafka_\d+\.\d+-(\d+\.\d+\.\d+)\.jar$")


def cpu_model(cpuinfo: str) -> str | None:
    """The first `model name` of /proc/cpuinfo text."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return None


def memory_total_mb(meminfo: str) -> int | None:
    """MemTotal of /proc/meminfo text, in MiB."""
    match = re.search(r"^MemTotal:\s+(\d+)\s+kB", meminfo, re.MULTILINE)
    return int(match.group(1)) // 1024 if match else None


def kafka_version(jar_names: list[str]) -> str | None:
    """The broker version from the jar names Maven resolved (kafka_2.13-4.1.1.jar → 4.1.1)."""
    for name in sorted(jar_names):
        match = _KAFKA_JAR.match(name)
        if match:
            return match.group(1)
    return None


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _redis_version() -> str | None:
    try:
        out = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"v=(\S+)", out)
    return match.group(1) if match else None


def machine_info() -> dict[str, Any]:
    jars = [p.name for p in KAFKA_LIB.glob("kafka_*.jar")] if KAFKA_LIB.is_dir() else []
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(_read("/proc/cpuinfo")),
        "memory_mb": memory_total_mb(_read("/proc/meminfo")),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "kafka": kafka_version(jars),
        "redis_server": _redis_version(),
        "libraries": versions,
    }
