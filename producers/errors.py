"""Errors raised by the department adapters: bad cell values, unknown headers, bad config."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from schemas.errors import CreditSyncError


class ProducerError(CreditSyncError):
    """Root of the errors raised by producers/."""


class FieldValueError(ProducerError, ValueError):
    """A cell or JSON value that cannot be read as its field's kind; names the form expected."""

    def __init__(self, field: str, value: Any, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.field}: {_shown(self.value)} is not {self.expected}"


def _shown(value: Any, limit: int = 80) -> str:
    # A huge cell would drown the message (and the rejections file); show its start.
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


class HeaderError(ProducerError):
    """The header row of a spreadsheet (or the keys of a JSON record) match no template."""


class CategoryNotRecognised(HeaderError):
    """`infer_category` found no category whose template fits the headers."""

    def __init__(
        self,
        closest: str,
        missing: Sequence[str],
        unknown: Sequence[str],
        headers: Sequence[str],
    ) -> None:
        self.closest = closest
        self.missing = tuple(missing)
        self.unknown = tuple(unknown)
        self.headers = tuple(headers)
        parts = [f"the headers match no category template; closest is {closest!r}"]
        if self.missing:
            parts.append(f"missing required columns: {', '.join(self.missing)}")
        if self.unknown:
            parts.append(f"unknown columns: {', '.join(self.unknown)}")
        parts.append("pass --category to choose one")
        super().__init__("; ".join(parts))


class CategoryAmbiguous(HeaderError):
    """The headers fit several category templates equally well."""

    def __init__(self, candidates: Sequence[str]) -> None:
        self.candidates = tuple(candidates)
        super().__init__(
            f"the headers fit several categories equally: {', '.join(self.candidates)}; "
            "pass --category to choose one"
        )


class SpreadsheetError(ProducerError):
    """A file that cannot be read as a spreadsheet at all (not a row-level problem)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class DepartmentConfigError(ProducerError):
    """The department access configuration file is malformed."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class BatchTooLarge(ProducerError):
    """A request asks for more records at once than the department's bucket can ever hold."""

    def __init__(self, department: str, requested: int, burst: int) -> None:
        self.department = department
        self.requested = requested
        self.burst = burst
        super().__init__(
            f"department {department!r} sent {requested} records in one request; "
            f"its rate limit allows at most {burst} at once — split the batch"
        )


class UnknownDepartment(ProducerError):
    """A department code the access configuration does not list."""


class CategoryNotAllowed(ProducerError):
    """A department sends a category its access configuration does not grant."""
