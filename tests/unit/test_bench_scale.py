"""The scale bench's pure parts: the record mix, cloning, projections and targets (#18)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from bench.scale_mix import (
    MIX,
    clone_value,
    enterprise_mix,
    mix_totals,
    owning_code,
    poisson,
    project,
    sample_size,
    substitution,
    target_checks,
)


def test_mix_means_match_the_stated_assumption() -> None:
    n = 20_000
    totals = mix_totals(n)
    assert totals["registration"] == n
    for category, mean in MIX:
        # Poisson: standard error of the mean is sqrt(mean / n); 5 of them is generous.
        assert abs(totals[category] / n - mean) < 5 * (mean / n) ** 0.5, category


def test_mix_is_deterministic_per_enterprise_and_sometimes_several() -> None:
    assert enterprise_mix(123) == enterprise_mix(123)
    assert any(enterprise_mix(n)["license"] >= 2 for n in range(1000))
    assert any(sum(enterprise_mix(n).values()) == 0 for n in range(1000))


def test_poisson_refuses_a_negative_mean() -> None:
    with pytest.raises(ValueError, match="expected ≥ 0"):
        poisson(random.Random(1), -0.1)


def test_sample_size_keeps_region_industry_and_suffix_of_clones() -> None:
    assert sample_size(200) == 200
    big = sample_size(5_000_000)
    assert big % 36 == 0 and big <= 2016
    with pytest.raises(ValueError):
        sample_size(10, cap=100)


def test_substitution_replaces_codes_and_name_once() -> None:
    template = ("91640422500000017X", "640422200000019", "500000017", "宁夏鑫源商贸有限公司1")
    clone = ("916404225000003771", "640422200000377", "500000377", "宁夏泰华商贸有限公司37")
    replace = substitution(template, clone)
    text = '{"uscc":"91640422500000017X","org":"500000017","name":"宁夏鑫源商贸有限公司1"}'
    assert replace(text) == (
        '{"uscc":"916404225000003771","org":"500000377","name":"宁夏泰华商贸有限公司37"}'
    )
    record = {"uscc": template[0], "codes": [template[1]], "on": dt.date(2024, 3, 1), "n": 5}
    assert clone_value(record, replace) == {
        "uscc": clone[0],
        "codes": [clone[1]],
        "on": dt.date(2024, 3, 1),
        "n": 5,
    }


def test_owning_code_of_table_keys() -> None:
    codes = {"91640422500000017X": 0, "640422200000019": 0, "500000017": 0}
    assert owning_code("640422200000019", codes) == "640422200000019"
    assert owning_code("91640422500000017X|penalty|x", codes) == "91640422500000017X"
    assert owning_code("somebody else", codes) is None


def test_every_lookup_key_of_an_enterprise_is_cloned_on_its_own_partition() -> None:
    from bench.scale_load import identity, partition_keys

    keys = partition_keys(identity(7))
    assert keys[:3] == list(identity(7)[:3])
    assert keys[3] == "name:" + identity(7)[3]  # the name alias (查错查重 by name)


def test_projection_is_linear_and_rss_is_a_line_through_two_points() -> None:
    measured = {
        "scale_enterprises": 200_000,
        "scale_sample_enterprises": 2016,
        "scale_worker_rss_mb": 300.0,
        "scale_full_restore_s": 10.0,
        "scale_restart_to_processing_s": 8.0,
        "scale_redis_bytes_per_enterprise": 4000,
    }
    out = project(measured, 200_000, 20_000_000, sample_rss_mb=102.0)
    assert out["scale_full_restore_s"] == 1000.0
    assert out["scale_restart_to_processing_s"] == 800.0
    assert out["scale_redis_used_gb"] == round(4000 * 20_000_000 / 2**30, 2)
    slope = (300.0 - 102.0) / (200_000 - 2016)
    assert out["scale_worker_rss_mb"] == round(300.0 + slope * 19_800_000, 1)


def test_projection_without_a_second_point_scales_through_the_origin() -> None:
    out = project({"scale_worker_rss_mb": 100.0}, 1000, 5000, sample_rss_mb=None)
    assert out["scale_worker_rss_mb"] == 500.0
    with pytest.raises(ValueError):
        project({}, 0, 10, None)


def test_targets_are_judged_only_at_five_million() -> None:
    figures = {"scale_worker_rss_mb": 700.0, "scale_lookup_p99_ms": 1.0}
    judged = target_checks(figures, 5_000_000)
    assert judged["scale_worker_rss_mb"]["met"] is False
    assert judged["scale_lookup_p99_ms"]["met"] is True
    assert judged["scale_search_p99_ms"]["met"] is None  # not measured
    assert target_checks(figures, 200_000)["scale_worker_rss_mb"]["met"] is None
