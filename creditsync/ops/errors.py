"""Errors of the operator commands (replay, rejected, status, sql), under the project root."""

from __future__ import annotations

from creditsync.errors import CreditSyncError


class OpsError(CreditSyncError):
    """Root of the errors the operator commands raise on purpose."""


class InvalidTimeSpec(OpsError, ValueError):
    """A --from / --to / --since value that is not a time the command understands."""


class TopicMissing(OpsError):
    """A topic the command reads does not exist on the broker."""


class ReadStalled(OpsError):
    """A bounded read of a topic stopped receiving messages before reaching its end offsets."""


class ClickHouseOwned(OpsError):
    """`creditsync run` owns the embedded ClickHouse; this process must not open it."""


class GroupActive(OpsError):
    """The stream processors' consumer group still has members: its offsets cannot be reset."""


class DeadLetterNotFound(OpsError, LookupError):
    """No dead letter with the given ID on credit.rejected."""


class InvalidDeadLetterId(OpsError, ValueError):
    """A dead-letter ID that is not "<topic>:<partition>:<offset>"."""


class CannotRedrive(OpsError):
    """A dead letter that cannot be re-driven as it is (which, and what would be needed)."""


class AnalyticsQueryFailed(OpsError):
    """ClickHouse (directly or through the running server) refused or failed a query."""
