"""A worker killed between two changelog acknowledgements of a batch loses no state write
(streams/runtime/stage_loop.py, changelog phases).

The batch under test is the one that matters: an alias arrives for a legacy code under which
a penalty and a restriction were parked, intake re-drives both and hands them to the items
stage of its loop, which writes their items and the restriction's joint-punishment notices.
Its changelogs are acknowledged in phases; the worker is "killed" (the loop raises) right after
each phase but the last, restarted, and its stage state must equal that of a run without the
kill. A fault run of issue #18 lost 15 items when intake's parked lists were acknowledged
before the items they had been re-driven into: this test fails that way if the phases are
put in another order.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from streams.app import WorkerConfig, build_app
from streams.errors import WorkerCrashed
from streams.worker import run_worker
from tests.faults import rebuild
from tests.intake_factory import enterprise_codes, penalty, publish, registration, restriction
from tests.integration.helpers import stage_config

pytestmark = pytest.mark.integration

PARTITIONS = 4
NOW = dt.datetime(2024, 3, 9, 2, 0, tzinfo=dt.UTC)


class SimulatedKill(Exception):
    """The worker dies right after a changelog phase was acknowledged."""


def config_for(bootstrap: str, tmp_path, name: str, state_store: str) -> WorkerConfig:
    return stage_config(
        bootstrap,
        tmp_path / name,
        f"cp{name}",
        partitions=PARTITIONS,
        clock=lambda: NOW,
        stages=("intake", "items"),
        state_store=state_store,
    )


def drain(config: WorkerConfig, kill_after: int | None = None) -> list[list[tuple[str, ...]]]:
    """Run the stage loop until it has committed everything published; with `kill_after`,
    kill it after that changelog phase of the first batch that writes a parked list and has
    a phase after it. The phases of that batch (empty when there was no kill)."""
    group = f"{config.topic_prefix}{config.app_id}"
    streams = build_app(config)
    killed: list[list[tuple[str, ...]]] = []

    def kill(index: int, phases: list[tuple[str, ...]]) -> None:
        parked = any("parked" in names for names in phases)
        if parked and not killed and index == kill_after and index < len(phases) - 1:
            killed.append(phases)
            raise SimulatedKill(f"after phase {index} of {phases}")

    if kill_after is not None:
        assert streams.stage_loop is not None
        streams.stage_loop.after_changelog_phase = kill
    try:
        assert run_worker(
            streams,
            until=lambda: rebuild.stages_caught_up(config.kafka, group, config.topic_prefix),
            timeout=120,
        )
    except WorkerCrashed as crash:
        assert killed, f"the loop failed by itself: {crash}"
    return killed


@pytest.mark.parametrize("state_store", ["memory", "rocksdb"])
@pytest.mark.parametrize("kill_after", [0, 1])
def test_a_kill_between_changelog_phases_loses_no_state_write(
    kafka_bootstrap, tmp_path, kill_after, state_store
):
    c = enterprise_codes(57)
    legacy = c["organisation_code"]
    parked = [
        penalty(legacy, "宁市监罚〔2024〕57号"),
        # Sent to 税务局 and 住建局: its notices are written with its item.
        restriction(legacy, restricted_to="2027-02-28"),
    ]
    later = [registration(57, "宁夏分段确认测试商贸有限公司")]
    killed_run = config_for(kafka_bootstrap, tmp_path, "killed", state_store)
    clean_run = config_for(kafka_bootstrap, tmp_path, "clean", state_store)

    for config in (killed_run, clean_run):
        publish(kafka_bootstrap, parked, config.topic_prefix)
        drain(config)  # both parked until their enterprise's registration
    for config in (killed_run, clean_run):
        publish(kafka_bootstrap, later, config.topic_prefix)

    phases = drain(killed_run, kill_after=kill_after)
    # The batch was the re-drive, and the kill fell between two of its phases.
    assert phases and len(phases[0]) > kill_after + 1, phases
    assert phases[0][-1] == ("registry", "aliases", "parked"), phases
    # Restarted: it re-reads the batch from its last commit.
    assert drain(replace(killed_run)) == []
    drain(clean_run)

    killed_view, clean_view = (
        rebuild.changelog_view(config.kafka, f"{config.topic_prefix}{config.app_id}")
        for config in (killed_run, clean_run)
    )
    sizes = rebuild.table_sizes(killed_view)
    assert sizes["items"] == 2, sizes  # the penalty and the restriction
    assert sizes["notices"] == 2, sizes
    assert sizes["parked"] == 0, sizes
    prefixes = (killed_run.topic_prefix, clean_run.topic_prefix)
    assert rebuild.compare_views(killed_view, clean_view, prefixes) == []
