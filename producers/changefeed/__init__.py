"""Change feeds: Debezium change events and SQL polling, mapped per table to intake events.

For departments whose databases are the source of their records: a per-department TOML
mapping (producers.changefeed.mapping) says which table feeds which category and how its
columns become fields; both feeds validate through producers.events, publish through
producers.publisher and skip what the ledger knows, exactly like the file and HTTP intake.
"""

from producers.changefeed.debezium import (
    ChangeEvent,
    MalformedChange,
    map_change,
    parse_change,
    source_sequence,
)
from producers.changefeed.debezium_feed import DebeziumFeed, default_group_id
from producers.changefeed.errors import (
    ChangeFeedError,
    FeedTimeout,
    LedgerUnavailable,
    MappingError,
    PositionError,
)
from producers.changefeed.mapping import FeedMapping, TableMapping, load_mapping, parse_mapping
from producers.changefeed.position import PollPosition, PositionStore
from producers.changefeed.publishing import FeedPublisher, FeedStats, select_fresh
from producers.changefeed.sql_poller import SqlPoller, row_sequence, timestamp_sequence

__all__ = [
    "ChangeEvent",
    "ChangeFeedError",
    "DebeziumFeed",
    "FeedMapping",
    "FeedPublisher",
    "FeedStats",
    "FeedTimeout",
    "LedgerUnavailable",
    "MalformedChange",
    "MappingError",
    "PollPosition",
    "PositionError",
    "PositionStore",
    "SqlPoller",
    "TableMapping",
    "default_group_id",
    "load_mapping",
    "map_change",
    "parse_change",
    "parse_mapping",
    "row_sequence",
    "select_fresh",
    "source_sequence",
    "timestamp_sequence",
]
