"""Logs never carry a full resident ID number: every record is masked as it is made.

`install_log_masking()` (called by the CLI at start) wraps the log record factory, so every
record of every logger, whatever its handlers (ours, uvicorn's, a library's), passes through
`PersonalIdLogFilter` before any handler formats it — its message and its traceback.
"""

from __future__ import annotations

import logging
import traceback

from schemas.personal_ids import contains_resident_id, mask_resident_ids


class PersonalIdLogFilter(logging.Filter):
    """Masks ID numbers in a record's message (arguments merged in) and exception text;
    never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: logging reports it later
            return True
        if contains_resident_id(message):
            record.msg, record.args = mask_resident_ids(message), None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            if contains_resident_id(text):
                record.exc_text = mask_resident_ids(text)
        return True


_FILTER = PersonalIdLogFilter()
_installed = False


def install_log_masking() -> None:
    """Mask every log record of this process (idempotent)."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def masked_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = make(*args, **kwargs)
        _FILTER.filter(record)
        return record

    logging.setLogRecordFactory(masked_record)
    _installed = True
