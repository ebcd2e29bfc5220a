"""The project-wide root error; each package's errors.py derives its own from it."""


class CreditSyncError(Exception):
    """Root of every error creditsync raises on purpose."""


class ServiceUnavailable(CreditSyncError):
    """A backing service (Kafka, Redis, ClickHouse) did not answer; the caller may retry."""


class MissingPrerequisite(CreditSyncError):
    """A program the local services need (java, mvn, redis-server) is not installed."""
