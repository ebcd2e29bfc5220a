"""PATH.rejected.csv: a file's rejected rows with their reasons, written as they come.

Written row by row as ingest meets them (an adversarial file can be all rejections, so they
are not kept in memory), in UTF-8 with BOM so Excel opens it, every cell guarded against
formula injection (csv_cells.py). The department corrects it and ingests it again as it is.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from producers.csv_cells import escape_formula
from producers.events import RecordRejection
from producers.templates import REJECTION_COLUMNS


def rejections_path(path: str | Path) -> Path:
    """Where the rejections of a file go: PATH.rejected.csv beside it."""
    return Path(f"{path}.rejected.csv")


def _cell_text(value: Any) -> str:
    """A cell as written to a CSV a person opens: formula starts guarded (csv_cells.py)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return escape_formula(str(value))


class RejectionsFile:
    """PATH.rejected.csv of file `path`, opened at the first rejection: row number, field,
    value and reason, then the original cells. The four leading columns are ignored when the
    corrected file is ingested again. `close()` removes a stale file when nothing was added."""

    def __init__(self, path: str | Path) -> None:
        self.target = rejections_path(path)
        self.count = 0
        self._out: IO[str] | None = None
        self._writer: Any = None
        self._columns: list[str] = []

    def add(self, rejections: Iterable[RecordRejection]) -> None:
        for rejection in rejections:
            row = dict(rejection.row or {})
            if self._out is None:
                self._columns = list(row)
                self._out = open(self.target, "w", encoding="utf-8-sig", newline="")  # noqa: SIM115
                self._writer = csv.writer(self._out)
                self._writer.writerow([*REJECTION_COLUMNS, *map(_cell_text, self._columns)])
            field = rejection.field
            if rejection.field_chinese and rejection.field_chinese != field:
                field = f"{rejection.field_chinese} ({field})"
            reasons = "; ".join(
                f"{p.field_chinese or p.field}: {p.reason}" for p in rejection.problems
            )
            self._writer.writerow(
                [
                    _cell_text(rejection.row_number or rejection.record_ref),
                    _cell_text(field),
                    _cell_text(rejection.value),
                    _cell_text(reasons or rejection.reason),
                    *(_cell_text(row.get(column)) for column in self._columns),
                ]
            )
            self.count += 1

    def close(self) -> Path | None:
        """The path written, or None (a stale file removed) when nothing was rejected."""
        if self._out is None:
            self.target.unlink(missing_ok=True)
            return None
        self._out.close()
        return self.target


def write_rejections_csv(path: str | Path, rejections: Iterable[RecordRejection]) -> Path | None:
    """Write the rejections of file `path` to PATH.rejected.csv (see RejectionsFile).

    Returns the path written, or None (and removes a stale file) when nothing was rejected."""
    out = RejectionsFile(path)
    try:
        out.add(rejections)
    finally:
        written = out.close()
    return written


__all__ = ["RejectionsFile", "rejections_path", "write_rejections_csv"]
