"""Where a SQL poller stands in a table: the last (sequence, primary key) it published.

Kept as a small JSON file per table under the data dir, replaced atomically (write a temp
file, fsync, os.replace, fsync the directory), and written only after Kafka acknowledged
the batch it covers. A file rather than a compacted Kafka topic because the position belongs
to the one poller process of a department and must be readable without the broker, and an
operator can look at it or set it back with a text editor to re-poll. Losing it is safe:
the poller starts from the beginning and the ledger turns every row into "already
published".
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from producers.changefeed.errors import PositionError

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class PollPosition:
    """The last row published, in the poller's order: (sequence value, primary-key values).

    Equal timestamps are common (a batch update stamps many rows alike), so the sequence
    alone cannot say where to resume; the primary key breaks the tie."""

    sequence: Any
    key: tuple[Any, ...]

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.sequence, *self.key)


def encode_value(value: Any) -> dict[str, Any]:
    """A sequence or key value as tagged JSON, so it reads back as the same Python type."""
    if isinstance(value, bool) or value is None:
        raise PositionError(f"cannot keep {value!r} as a position: a NULL or boolean is no order")
    if isinstance(value, dt.datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, dt.date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, int):
        return {"type": "int", "value": str(value)}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    if isinstance(value, str):
        return {"type": "str", "value": value}
    raise PositionError(
        f"cannot keep a {type(value).__name__} as a position; expected a timestamp, date, "
        "integer, decimal or text column"
    )


def decode_value(item: Any) -> Any:
    try:
        kind, text = item["type"], item["value"]
        if kind == "datetime":
            return dt.datetime.fromisoformat(text)
        if kind == "date":
            return dt.date.fromisoformat(text)
        if kind == "int":
            return int(text)
        if kind == "decimal":
            return Decimal(text)
        if kind == "str":
            return str(text)
    except (KeyError, TypeError, ValueError) as exc:
        raise PositionError(f"position value {item!r} is malformed: {exc}") from exc
    raise PositionError(f"position value {item!r}: unknown type {kind!r}")


def position_to_json(position: PollPosition, table: str) -> str:
    return json.dumps(
        {
            "format": FORMAT_VERSION,
            "table": table,
            "sequence": encode_value(position.sequence),
            "key": [encode_value(v) for v in position.key],
        },
        ensure_ascii=False,
        indent=2,
    )


def position_from_json(text: str, table: str, source: str = "position") -> PollPosition:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PositionError(f"{source}: not JSON ({exc}); fix or delete it to re-poll") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT_VERSION:
        raise PositionError(f"{source}: expected a position of format {FORMAT_VERSION}")
    if data.get("table") != table:
        raise PositionError(
            f"{source}: it is the position of table {data.get('table')!r}, not {table!r}"
        )
    key = data.get("key")
    if not isinstance(key, list):
        raise PositionError(f"{source}: key: expected a list of primary-key values")
    return PollPosition(decode_value(data.get("sequence")), tuple(decode_value(k) for k in key))


class PositionStore:
    """The position file of one table: load() → PollPosition | None, save(position)."""

    def __init__(self, path: Path, table: str) -> None:
        self.path = path
        self.table = table

    @classmethod
    def under(cls, data_dir: Path, department_code: str, table: str) -> PositionStore:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in table)
        return cls(data_dir / "changefeed" / department_code / f"{safe}.position.json", table)

    def load(self) -> PollPosition | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise PositionError(f"cannot read position {self.path}: {exc}") from exc
        return position_from_json(text, self.table, str(self.path))

    def save(self, position: PollPosition) -> None:
        text = position_to_json(position, self.table)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd, tmp = tempfile.mkstemp(prefix=".position-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(text)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            # The rename itself must reach the disk, or a power cut could bring back the
            # previous position (a repeat, harmless) — or none (a full re-poll, also safe).
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise PositionError(f"cannot write position {self.path}: {exc}") from exc
