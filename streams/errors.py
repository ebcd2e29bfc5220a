"""Errors of the stream logic: each names the record, the field and what was expected."""

from __future__ import annotations

from schemas.errors import CreditSyncError


class StreamsError(CreditSyncError):
    """Root of the errors raised by streams/ on purpose."""


class VersionError(StreamsError, ValueError):
    """The parts of a record version are out of the range the fixed-width form can hold."""


class TimelinessError(StreamsError, ValueError):
    """A date or instant that a deadline cannot be computed from (e.g. a naive datetime)."""


class RegistrationError(StreamsError, ValueError):
    """A registration event that cannot update the code registry (no or a bad USCC …)."""


class ChangeError(StreamsError, ValueError):
    """A licence or penalty change that cannot be applied to the record it names."""


class PublicationError(StreamsError, ValueError):
    """A workflow event (objection, repair) whose content the publication rules cannot read."""


class NoticeError(StreamsError, ValueError):
    """Feedback that does not fit the joint-punishment notice it names."""


class EnrichmentError(StreamsError, ValueError):
    """A record that cannot be published as it is, e.g. personal data would leak."""


class PrivacyError(StreamsError, ValueError):
    """Personal data cannot be protected as the rules require (e.g. no hash key)."""


class StateBoundExceeded(StreamsError, ValueError):
    """A record that would grow one key's state past its bound (pending changes of an item,
    records parked under one code): refused with the reason, the state left as it was."""


class WorkerCrashed(StreamsError):
    """One of the worker's loops failed (streams/runtime/supervisor.py): stop loudly, never idle."""

    def __init__(self, loop: str, error: BaseException) -> None:
        super().__init__(f"loop {loop} failed: {type(error).__name__}: {error}")
        self.loop = loop
        self.error = error
