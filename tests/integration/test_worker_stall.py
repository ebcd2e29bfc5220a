"""The commits' time stamps reach `creditsync status`: lag with an old commit is a stall.

The worker runs in-process until both stores have everything, then more events arrive with
no worker running. Instead of waiting 45 s, the reading is judged at a later `now`."""

from __future__ import annotations

import time

import pytest

from creditsync.ops.lag import STALL_SECONDS, LagReader, stalled_groups
from tests.intake_factory import publish, registration
from tests.integration.helpers import run_until

pytestmark = pytest.mark.integration


def test_lag_with_no_commit_since_shows_as_a_stall(pipeline):
    app = f"{pipeline.topic_prefix}{pipeline.app_id}"
    groups = [app, f"{app}-sink-clickhouse", f"{app}-sink-publicity"]
    reader = LagReader(pipeline.kafka)

    def all_committed() -> bool:
        lags = reader.lags(groups)
        seen = {x.group for x in lags if x.committed is not None}
        return seen == set(groups) and all(x.lag == 0 for x in lags)

    publish(pipeline.bootstrap, [registration(5000, "宁夏停滞商贸有限公司")], pipeline.topic_prefix)
    assert run_until(pipeline, all_committed, timeout=120)
    committed = [x for x in reader.lags(groups) if x.committed is not None]
    # Every commit of the loops carries its time.
    assert all(x.committed_at is not None for x in committed), committed
    assert stalled_groups(reader.lags(groups), time.time()) == {}

    # The worker is gone; a registration arrives for the stages (the same key: a partition
    # they committed on): lag, and no commit after it.
    publish(pipeline.bootstrap, [registration(5000, "宁夏停滞商贸有限公司")], pipeline.topic_prefix)
    later = time.time() + STALL_SECONDS + 60
    stalled = stalled_groups(reader.lags(groups), later)
    assert app in stalled and stalled[app] >= STALL_SECONDS + 60, stalled
    assert f"{app}-sink-publicity" not in stalled  # no new record reached credit.records
