"""Long help texts of the operator commands, one paragraph per line when shown."""

from __future__ import annotations

REPLAY_HELP = """Re-apply credit.records to the sinks from a time; converges to the same state.

Reads credit.records from the offsets of --from (and up to --to) with a consumer of its own
(never the workers' group) and writes with the same idempotent, versioned batches the workers
use: ClickHouse collapses repeated events (FINAL), the publicity index applies only versions
newer than it holds. --dry-run writes nothing and shows what would change.

ClickHouse takes the messages undecoded (native Avro blocks); the publicity index gets the
newest version of each item in the range (older ones only where they leave a name, code or
region the newest does not). The bar counts offsets, with the rate and the time left.

Embedded ClickHouse (chdb) has one owner: while `creditsync run` owns the data directory
(<data dir>/run.pid), the replay runs inside that process (POST /v1/operator/replay, with the
operator token; one at a time) while it keeps serving, and this command follows its progress.

--stage streams re-derives credit.records from the intake topics (after a fix to resolution
or enrichment): with the workers stopped, it resets their consumer group's intake offsets to
--from AND deletes their tables' changelog topics, so the tables rebuild from the re-read
intake. Times: 2024-03-08, 2024-03-08T09:30 (China time unless an offset is given), 2h,
3d, beginning."""

REDRIVE_HELP = """Re-drive dead letters after a fix.

Adapter-refused records (stage validate) are validated again from their fields, with --set
corrections, and published to their intake topic; the others go back with their original
bytes and headers to the topic they came from. Each re-drive is recorded on
credit.rejected-redriven and leaves the open list. Exit 3 when some are still rejected."""

SQL_HELP = """One read-only analytics query: a single SELECT (WITH, UNION, JOIN, subqueries)
over the analytics tables, checked by ClickHouse's own parser. No INTO OUTFILE, FORMAT,
SETTINGS or table functions; of the system tables only one, tables, columns and parts. It runs
with readonly=1 and the limits CREDITSYNC_ANALYTICS_MAX_SECONDS (30), _MAX_RESULT_ROWS
(10000), _MAX_MEMORY_BYTES (1 GiB) and _MAX_ROWS_TO_READ.

With embedded ClickHouse owned by a running `creditsync run` (<data dir>/run.pid), the query
goes through that process's HTTP API (POST /v1/analytics/sql); otherwise it runs here.
Exit 1: the query failed or hit a limit (the message says which); 2: refused, with why."""


def paragraphs(text: str) -> str:
    """Help text with each paragraph on one line: Typer's rich help keeps line breaks."""
    return "\n\n".join(" ".join(p.split()) for p in text.strip().split("\n\n"))
