"""`creditsync bench`: the benchmarks of bench/ on their own Kafka, Redis and chdb (issue #8)."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from pathlib import Path

import typer

from creditsync.services import REPO_ROOT


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the `creditsync` app."""

    @app.command()
    def bench(
        quick: bool = typer.Option(False, "--quick", help="Smaller sizes: about a minute."),
        json_path: Path | None = typer.Option(
            None, "--json", help="Also write the figures, plan and machine info here."
        ),
        only: str | None = typer.Option(
            None,
            "--only",
            help="Comma-separated sections: baselines, pipeline, latency, replay, queries, "
            "dashboards, memory, scale (replay needs pipeline; scale needs --scale).",
        ),
        scale: int = typer.Option(
            0,
            "--scale",
            help="Run the scale section alone at N enterprises (issue #18): worker RSS, "
            "restart and full-restore times, Redis bytes per enterprise, look-up and search "
            "p50/p99 while ingesting 1,000 events/s, and a projection to 5M and 20M.",
        ),
    ) -> None:
        """Throughput, latency, replay, query and memory figures on a Kafka broker and a
        redis-server started for the run (never a running deployment), stopped at the end.

        Exit 0 when every section ran; 1 when one failed (its error is in the output)."""
        from rich.console import Console

        # bench/ lives beside the packages in the repository and is not installed.
        if str(REPO_ROOT) not in sys.path:
            sys.path.insert(0, str(REPO_ROOT))
        from bench.report import figures_table, scale_table, write_json
        from bench.runner import SECTION_NAMES, BenchPlan, run_bench

        console = Console()
        sections = [s.strip() for s in only.split(",")] if only else None
        if scale < 0:
            console.print(f"[red]error:[/red] --scale {scale}: expected a positive number")
            raise typer.Exit(2)
        if scale:
            sections = ["scale"]
        unknown = sorted(set(sections or ()) - set(SECTION_NAMES))
        if unknown:
            console.print(
                f"[red]error:[/red] --only {', '.join(unknown)}: expected sections "
                f"among {', '.join(SECTION_NAMES)}"
            )
            raise typer.Exit(2)
        plan = BenchPlan.quick_plan() if quick else BenchPlan.full()
        if scale:
            plan = dataclasses.replace(plan, scale_enterprises=scale)
        _bench_pii_keys()
        # A bench stopped by SIGTERM (a timeout, a supervisor) unwinds like Ctrl-C, so the
        # broker and redis-server it started are stopped by their pids, not left running.
        signal.signal(signal.SIGTERM, _interrupt)
        document = run_bench(plan, console, sections)
        console.print(scale_table(document) if scale else figures_table(document))
        if json_path is not None:
            write_json(document, json_path)
            console.print(f"figures written to {json_path}")
        failed = [name for name, detail in document["sections"].items() if "error" in detail]
        if failed:
            console.print(f"[red]failed sections:[/red] {', '.join(failed)}")
            raise typer.Exit(1)


def _bench_pii_keys() -> None:
    """One throwaway keyring for the run, in this process and in every process it starts
    (the stages in a second process, the latency probe), so that an ID number sealed by the
    bench's producers opens in its workers; the hash key is the one bench/pipeline.py gives
    its in-process workers. The bench runs on services of its own, never a deployment's."""
    from creditsync.pii_keys import HASH_SETTING, KEYS_SETTING, new_keyring_entry
    from schemas.pii_crypto import PiiKeyring, install_keyring

    os.environ[KEYS_SETTING] = new_keyring_entry("bench")
    os.environ[HASH_SETTING] = BENCH_HASH_KEY
    install_keyring(PiiKeyring.parse(os.environ[KEYS_SETTING]))


BENCH_HASH_KEY = "bench-only-pii-hash-key"
