"""The stream worker: the stages, the sinks and the operations loop, built per configuration.

Three stages over plain functions:

1. intake (`credit.intake.*`, keyed by the code the department sent) — decode, validate,
   resolve the subject to its USCC, enrich; registrations maintain the code registry and are
   re-keyed by each legacy code onto `credit.registry-aliases`; records whose legacy code is
   not known yet are parked in a table under that code and re-driven when it arrives.
2. items (`credit.resolved`, keyed by USCC) — per-item state: changes applied to their
   originals (also when they come first), objections, credit repair, withdrawals, expiry
   timers, joint-punishment notices; emits `credit.records`.
3. sinks (`credit.records`) — ClickHouse and the Redis publicity index, one batch each.

Stages 1 and 2 are stateful and run in one confluent-kafka consumer loop with
changelog-backed tables (`streams.runtime.stage_loop`, `streams.runtime.stage_state`), group
`<prefix><app id>`; each sink has a loop and group of its own (`streams.runtime.sink_loop`),
and so has the operations loop that copies rejected, parked, control-total and notice
history into ClickHouse (group `<prefix><app id>-operations`, `streams.operations_stage`).
`streams.worker.run_worker` runs them on threads under one supervisor
(`streams.runtime.supervisor`): a loop that fails stops the worker loudly.
Everything is at-least-once; every output is idempotent by event id and version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from streams.config import Clock, WorkerConfig, utc_now

if TYPE_CHECKING:
    from streams.runtime.outputs import Outputs
    from streams.runtime.stage_loop import StageLoop
    from streams.runtime.supervisor import Loop

__all__ = ["Clock", "CreditStreams", "WorkerConfig", "build_app", "utc_now"]


@dataclass
class CreditStreams:
    """The built worker, so the CLI and tests can start and stop it (streams.worker)."""

    config: WorkerConfig
    # The stateful stages' loop (None when this worker runs neither intake nor items).
    stage_loop: StageLoop | None = None
    # Producers of the loops' outputs, closed once the loops have stopped.
    outputs: list[Outputs] = field(default_factory=list)

    @property
    def stage_group(self) -> str:
        return f"{self.config.topic_prefix}{self.config.app_id}"

    def output_producer(self, name: str) -> Outputs:
        from streams.runtime.outputs import Outputs

        out = Outputs(self.config.kafka, f"{self.stage_group}-{name}")
        self.outputs.append(out)
        return out

    def open_loops(self) -> list[tuple[str, Loop]]:
        """The named loops to run: the stages' and, with the sinks stage, each sink's and the
        operations loop (the sinks are set up here: schema created, scripts loaded)."""
        loops: list[tuple[str, Loop]] = []
        if self.stage_loop is not None:
            loops.append(("stages", self.stage_loop))
        from streams import sink_stage

        sinks = sink_stage.sinks_of(self.config.stages)
        if sinks:
            loops += sink_stage.sink_loops(self.config, sink_stage.open_sinks(self.config, sinks))
        return loops


def build_app(config: WorkerConfig) -> CreditStreams:
    """The worker for `config`; nothing connects until `streams.worker.run_worker`."""
    streams = CreditStreams(config=config)
    stages = [s for s in ("intake", "items") if s in config.stages]
    if stages:
        # Imported here so that `import streams` (pure domain logic) stays light.
        from streams.intake_stage import IntakeStage
        from streams.items_stage import ItemsStage
        from streams.runtime.stage_loop import StageLoop

        out = streams.output_producer("stages")
        kinds = {"intake": IntakeStage, "items": ItemsStage}
        streams.stage_loop = StageLoop(
            stages=[kinds[name](config, out, streams.stage_group) for name in stages],
            group=streams.stage_group,
            kafka=config.kafka,
            out=out,
            batch_size=config.intake_batch_size,
        )
    return streams
