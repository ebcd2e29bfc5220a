"""Sinks: the ClickHouse history store and the Redis publicity index, with their readers.

Both take batches of `EnrichedRecord`s from credit.records (`write_batch`) and return a
`SinkResult`; downstream failures come out as the typed errors of sinks/errors.py.
"""

from sinks.base import RecordRejection, Sink, SinkResult
from sinks.clickhouse import (
    ClickHouseSink,
    ControlTotalRow,
    ParkedRow,
    QueryResult,
    RejectionRow,
    connect_clickhouse,
    run_readonly_query,
)
from sinks.errors import (
    INVALIDATING_ERRORS,
    IRRECOVERABLE_ERRORS,
    OPERATIONAL_ERRORS,
    Backpressure,
    IndexLost,
    ReadOnlyQueryRefused,
    RecordMappingError,
    SearchQueryInvalid,
    SinkError,
    SinkRejected,
    SinkStateReset,
    SinkUnavailable,
    classify,
    downstream_errors,
)
from sinks.publicity import PublicityIndex, PublicityReader

__all__ = [
    "INVALIDATING_ERRORS",
    "IRRECOVERABLE_ERRORS",
    "OPERATIONAL_ERRORS",
    "Backpressure",
    "ClickHouseSink",
    "ControlTotalRow",
    "IndexLost",
    "ParkedRow",
    "PublicityIndex",
    "PublicityReader",
    "QueryResult",
    "ReadOnlyQueryRefused",
    "RecordMappingError",
    "RecordRejection",
    "RejectionRow",
    "SearchQueryInvalid",
    "Sink",
    "SinkError",
    "SinkRejected",
    "SinkResult",
    "SinkStateReset",
    "SinkUnavailable",
    "classify",
    "connect_clickhouse",
    "downstream_errors",
    "run_readonly_query",
]
