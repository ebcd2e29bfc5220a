"""Errors of the change feeds: a bad mapping file, a position that cannot be read or kept."""

from __future__ import annotations

from producers.errors import ProducerError
from schemas.errors import ServiceUnavailable


class ChangeFeedError(ProducerError):
    """Root of the errors raised by producers.changefeed."""


class MappingError(ChangeFeedError):
    """The mapping file (TOML) of a change feed is malformed; names the file and the entry."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


class PositionError(ChangeFeedError):
    """The stored position of a poller cannot be read or written; the feed stops rather than
    guess, because a wrong position skips or repeats rows."""


class LedgerUnavailable(ChangeFeedError, ServiceUnavailable):
    """Redis (the ledger of published event ids) did not answer; nothing was published."""


class FeedTimeout(ChangeFeedError):
    """A bounded run (tests, `--until-idle`) did not catch up with its source in time."""
