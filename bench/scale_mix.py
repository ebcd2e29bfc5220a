"""Pure parts of `creditsync bench --scale N`: the record mix, cloning, projections, targets.

The mix is an ASSUMPTION, not a measured distribution (no province's per-enterprise counts
were available here): every enterprise has its registration (with both legacy codes), and on
average 0.3 licences, 0.1 penalties, 0.05 inspections, 0.02 restrictions and 0.01 abnormal-
operation listings, drawn per enterprise from a Poisson law so some have several. Most
market entities have no public record besides their registration, which is what it models.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Callable, Mapping
from typing import Any

# Mean records per enterprise by category (the assumption above).
MIX: tuple[tuple[str, float], ...] = (
    ("license", 0.3),
    ("penalty", 0.1),
    ("inspection", 0.05),
    ("restriction", 0.02),
    ("abnormal_operation", 0.01),
)
MIX_SOURCE = (
    "assumption (issue #18 brief): per enterprise 1 registration with both legacy codes, "
    "Poisson means 0.3 licence, 0.1 penalty, 0.05 inspection, 0.02 restriction, "
    "0.01 abnormal operation; not a measured province distribution"
)
# Targets of issue #18 at 5,000,000 enterprises (codes).
TARGET_ENTERPRISES = 5_000_000
PROJECTION_ENTERPRISES = 20_000_000
TARGETS: dict[str, tuple[float, str]] = {
    "scale_worker_rss_mb": (600, "≤ 600 MB at 5,000,000 codes"),
    "scale_restart_to_processing_s": (30, "≤ 30 s at 5,000,000 codes, after a clean stop"),
    "scale_lookup_p99_ms": (2, "≤ 2 ms at 5,000,000 enterprises while ingesting 1,000/s"),
    "scale_search_p99_ms": (10, "≤ 10 ms at 5,000,000 enterprises while ingesting 1,000/s"),
}


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth's method: exact, and quick for the small means used here)."""
    if mean < 0:
        raise ValueError(f"Poisson mean {mean}: expected ≥ 0")
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def enterprise_mix(n: int, seed: int = 18) -> dict[str, int]:
    """Records of each category for enterprise `n` (deterministic per n and seed)."""
    rng = random.Random(seed * 1_000_003 + n)
    return {category: poisson(rng, mean) for category, mean in MIX}


def mix_totals(enterprises: int, seed: int = 18) -> dict[str, int]:
    """Records per category over enterprises 0 … enterprises-1 (registrations included)."""
    totals = {"registration": enterprises, **{c: 0 for c, _ in MIX}}
    for n in range(enterprises):
        for category, count in enterprise_mix(n, seed).items():
            totals[category] += count
    return totals


def sample_size(enterprises: int, cap: int = 2016) -> int:
    """How many enterprises go through the real pipeline before the rest is cloned from
    them: all when few; else `cap`, a multiple of 36 so that a clone n and its template
    n mod cap share the region (n mod 6), the industry (mod 9) and the suffix (mod 4) of
    bench.workload's names and codes."""
    if cap % 36:
        raise ValueError(f"sample cap {cap}: expected a multiple of 36")
    return enterprises if enterprises <= cap else cap


Identity = tuple[str, str, str, str]  # uscc, registration number, organisation code, name


@functools.lru_cache(maxsize=4096)
def _pattern(template: Identity) -> re.Pattern[str]:
    # One per template (the sample), not per clone: compiling per clone was most of the cost.
    return re.compile("|".join(re.escape(t) for t in sorted(template, key=len, reverse=True)))


def substitution(template: Identity, clone: Identity) -> Callable[[str], str]:
    """A str -> str function replacing each of the template's codes and name by the
    clone's, in one pass (a replaced text is never replaced again), longest first so the
    organisation code inside a USCC goes with the USCC."""
    pairs = dict(zip(template, clone, strict=True))
    pattern = _pattern(template)
    return lambda text: pattern.sub(lambda m: pairs[m.group(0)], text)


def clone_value(value: Any, replace: Callable[[str], str]) -> Any:
    """`value` (a decoded record: dicts, lists, strings, dates …) with every string passed
    through `replace`; other values kept as they are."""
    if isinstance(value, str):
        return replace(value)
    if isinstance(value, dict):
        return {clone_value(k, replace): clone_value(v, replace) for k, v in value.items()}
    if isinstance(value, list):
        return [clone_value(v, replace) for v in value]
    return value


def owning_code(key: str, codes: Mapping[str, int]) -> str | None:
    """The enterprise code a table key is partitioned by: the key itself when it is a code
    (aliases: a legacy code; registry: a USCC), else the USCC it starts with (items and
    notices keys are prefixed by it); None when the key names no known enterprise."""
    if key in codes:
        return key
    for size in (18, 15, 9):
        if key[:size] in codes:
            return key[:size]
    return None


def project(
    measured: Mapping[str, Any], enterprises: int, target: int, sample_rss_mb: float | None
) -> dict[str, Any]:
    """Linear projection of a run at `enterprises` to `target` enterprises.

    Bytes and restore seconds scale through the origin (per-enterprise figure × target: the
    fixed start-up part is projected too, which errs high). Worker RSS is a line through two
    points, the worker at the sample size and at `enterprises`, so the interpreter's fixed
    footprint is not multiplied. Latencies are not projected (they grow with the sizes of the
    sets a query touches, not linearly with N). A projection, not a measurement."""
    if enterprises <= 0 or target <= 0:
        raise ValueError(f"projection from {enterprises} to {target}: expected positive sizes")
    factor = target / enterprises
    out: dict[str, Any] = {"enterprises": target, "from_enterprises": enterprises}
    for key in ("scale_full_restore_s", "scale_restart_to_processing_s"):
        value = measured.get(key)
        out[key] = None if value is None else round(value * factor, 1)
    per = measured.get("scale_redis_bytes_per_enterprise")
    out["scale_redis_used_gb"] = None if per is None else round(per * target / 2**30, 2)
    rss, small = measured.get("scale_worker_rss_mb"), measured.get("scale_sample_enterprises")
    if rss is None:
        out["scale_worker_rss_mb"] = None
    elif sample_rss_mb is not None and small and enterprises > small:
        slope = (rss - sample_rss_mb) / (enterprises - small)
        out["scale_worker_rss_mb"] = round(rss + max(slope, 0.0) * (target - enterprises), 1)
    else:
        out["scale_worker_rss_mb"] = round(rss * factor, 1)
    return out


def target_checks(figures: Mapping[str, Any], at: int) -> dict[str, dict[str, Any]]:
    """Each issue #18 target with whether `figures` (measured or projected at `at`
    enterprises) meet it; `met` is None unless `at` is the targets' scale or the value
    is missing."""
    checks: dict[str, dict[str, Any]] = {}
    for key, (limit, text) in TARGETS.items():
        value = figures.get(key)
        met = None if value is None or at != TARGET_ENTERPRISES else value <= limit
        checks[key] = {"target": text, "met": met}
    return checks
