"""The project-wide root error, and the errors of the data contract: invalid codes, unknown
schemas, corrupt records.

The root lives here, in the bottom layer every package imports, so that no package's
errors.py imports upwards (from the CLI package, as it used to)."""

from __future__ import annotations


class CreditSyncError(Exception):
    """Root of every error creditsync raises on purpose."""


class ServiceUnavailable(CreditSyncError):
    """A backing service (Kafka, Redis, ClickHouse) did not answer; the caller may retry."""


class MissingPrerequisite(CreditSyncError):
    """A program the local services need (java, mvn, redis-server) is not installed."""


class SchemaError(CreditSyncError):
    """Root of the errors raised by schemas/: the data does not meet the contract."""


class UnknownSchema(SchemaError):
    """The writer schema of a message is not in the catalog (fingerprint or version unknown)."""

    def __init__(self, reason: str, fingerprint: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fingerprint = fingerprint


class CorruptRecord(SchemaError):
    """Bytes that cannot be decoded, or a record that cannot be encoded, with the reason."""

    def __init__(self, record_type: str, reason: str) -> None:
        super().__init__(f"{record_type}: {reason}")
        self.record_type = record_type
        self.reason = reason


class IncompatibleSchema(SchemaError):
    """A kept schema version cannot read data written by an older one (evolution check)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("incompatible schema versions:\n  " + "\n  ".join(problems))
        self.problems = problems


class InvalidRecord(SchemaError, ValueError):
    """A record that does not fit its schema, so it cannot be encoded; says which field."""

    def __init__(self, record_type: str, reason: str, record_id: str | None = None) -> None:
        where = f"{record_type} {record_id}" if record_id else record_type
        super().__init__(f"{where}: {reason}")
        self.record_type = record_type
        self.record_id = record_id
        self.reason = reason
