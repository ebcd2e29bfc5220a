"""`creditsync replay --stage streams`: re-derive credit.records from the intake topics.

After a fix to resolution or enrichment, the stream processors re-read the intake topics
from a time. Their consumer group's offsets and their table state must move together: the
tables (code registry, aliases, parked records, per-item state, notices) are restored from
changelog topics (streams/runtime/stage_state.py), so offsets moved back over state that still holds
the later records would apply every change twice. The reset therefore (1) sets the group's
committed offsets on the intake topics to the first offset at or after the time, and (2)
deletes the changelog topics of the stages' tables, which the worker recreates empty on its
next start and refills from the re-read intake, and (3) records the next derivation
generation, which the re-derived records carry in their versions so that the sinks take them
over the records derived before the fix. It refuses while the group has active members.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from creditsync.ops.errors import GroupActive, OpsError, TopicMissing
from schemas.categories import CATEGORIES
from schemas.kafka.config import KafkaSettings, client_config
from schemas.kafka.retry import poll_until
from schemas.topics import intake_topic
from streams.runtime.derivation import current_generation, record_generation

ADMIN_TIMEOUT = 15.0
CHANGELOG_SUFFIX = "-changelog"


@dataclass(frozen=True, slots=True)
class StreamResetPlan:
    group_id: str
    start_ms: int
    offsets: list[tuple[str, int, int]]  # (topic, partition, new committed offset)
    changelogs: list[str]
    to_reprocess: int  # intake messages from the new offsets to the current ends
    generation: int = 0  # the derivation generation the re-derived records will carry
    notes: list[str] = field(default_factory=list)


def changelog_topics(all_topics: Sequence[str], group_id: str) -> list[str]:
    """The changelog topics of the stages' group `group_id`: `<group>-<table>-changelog`."""
    prefix = f"{group_id}-"
    return sorted(
        t
        for t in all_topics
        if t.startswith(prefix)
        and t.endswith(CHANGELOG_SUFFIX)
        # another app whose id starts with ours (creditsync-replay…) has its own, longer id
        and "-" not in t[len(prefix) : -len(CHANGELOG_SUFFIX)].strip("_")
    )


def _check_idle(admin: AdminClient, group_id: str) -> None:
    description = admin.describe_consumer_groups([group_id], request_timeout=ADMIN_TIMEOUT)
    group = description[group_id].result()
    if group.members:
        hosts = ", ".join(sorted({f"{m.client_id}@{m.host}" for m in group.members}))
        raise GroupActive(
            f"consumer group {group_id} has {len(group.members)} active member(s) ({hosts}), "
            f"state {group.state.name}: stop the stream workers (`creditsync run`, "
            "`creditsync worker`) before resetting their offsets and tables"
        )


def plan_stream_reset(
    kafka: KafkaSettings, group_id: str, topic_prefix: str, start_ms: int
) -> StreamResetPlan:
    """What the reset would do; checks that the group is idle. Changes nothing."""
    admin = AdminClient(client_config(kafka))
    _check_idle(admin, group_id)
    metadata = admin.list_topics(timeout=ADMIN_TIMEOUT)
    intake = [intake_topic(c, topic_prefix) for c in CATEGORIES]
    missing = [t for t in intake if t not in metadata.topics]
    if missing:
        raise TopicMissing(
            f"intake topic(s) {', '.join(missing)} do not exist (run `creditsync up`)"
        )
    parts = [TopicPartition(t, p) for t in intake for p in sorted(metadata.topics[t].partitions)]
    spec_at = OffsetSpec.for_timestamp(start_ms) if start_ms > 0 else OffsetSpec.earliest()
    at = _list_offsets(admin, parts, spec_at)
    latest = _list_offsets(admin, parts, OffsetSpec.latest())
    offsets = []
    for tp in parts:
        key = (tp.topic, tp.partition)
        # No message at or after the time: the partition starts from its current end.
        target = at[key] if at[key] >= 0 else latest[key]
        offsets.append((tp.topic, tp.partition, target))
    return StreamResetPlan(
        group_id=group_id,
        start_ms=start_ms,
        offsets=offsets,
        changelogs=changelog_topics(list(metadata.topics), group_id),
        to_reprocess=sum(latest[(t, p)] - o for t, p, o in offsets),
        generation=current_generation(kafka, topic_prefix, group_id) + 1,
    )


def _list_offsets(
    admin: AdminClient, parts: list[TopicPartition], spec: OffsetSpec
) -> dict[tuple[str, int], int]:
    futures = admin.list_offsets({tp: spec for tp in parts}, request_timeout=ADMIN_TIMEOUT)
    return {(tp.topic, tp.partition): f.result().offset for tp, f in futures.items()}


def apply_stream_reset(kafka: KafkaSettings, topic_prefix: str, plan: StreamResetPlan) -> None:
    """Move the group's offsets, delete the changelog topics and record the next derivation
    generation, as planned."""
    admin = AdminClient(client_config(kafka))
    # Checked again: a worker may have started while the operator read the plan.
    _check_idle(admin, plan.group_id)
    request = ConsumerGroupTopicPartitions(
        plan.group_id, [TopicPartition(t, p, o) for t, p, o in plan.offsets]
    )
    for group, future in admin.alter_consumer_group_offsets(
        [request], request_timeout=ADMIN_TIMEOUT
    ).items():
        result = future.result()
        failed = [tp for tp in result.topic_partitions if tp.error is not None]
        if failed:
            raise OpsError(
                f"consumer group {group}: offsets not reset for "
                + ", ".join(f"{tp.topic}[{tp.partition}]: {tp.error}" for tp in failed)
            )
    if plan.changelogs:
        for topic, future in admin.delete_topics(
            plan.changelogs, operation_timeout=ADMIN_TIMEOUT
        ).items():
            try:
                future.result()
            except Exception as exc:
                raise OpsError(f"cannot delete changelog topic {topic}: {exc}") from exc
        _wait_deleted(admin, plan.changelogs)
    # Last: the re-derived records must supersede the ones derived before (whose versions
    # they would otherwise equal, and be skipped by the sinks as not newer).
    record_generation(kafka, topic_prefix, plan.group_id, plan.generation, from_ms=plan.start_ms)


def _wait_deleted(admin: AdminClient, topics: list[str], limit: float = 30.0) -> None:
    # Deletion completes asynchronously; a worker started before it does would find the
    # old changelog and restore the old state.
    def present() -> set[str]:
        return set(topics) & set(admin.list_topics(timeout=ADMIN_TIMEOUT).topics)

    try:
        poll_until(present, lambda left: not left, within=limit, every=0.5)
    except TimeoutError:
        raise OpsError(
            f"changelog topic(s) {', '.join(sorted(present()))} still exist {limit:.0f}s after "
            "deletion; do not start the workers until they are gone"
        ) from None
