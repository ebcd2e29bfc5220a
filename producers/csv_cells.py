"""Cells of the CSV files the project writes, safe to open in Excel or WPS (formula injection).

A department's cell such as `=HYPERLINK("http://…","点击")` copied into PATH.rejected.csv
would run as a formula when the department opens the file. OWASP's guidance: a cell that
starts with = + - @ tab or carriage return is prefixed with a single quote, which
spreadsheets show as text and people can still read. The full-width ＝＋－＠ are included
(WPS and Excel with a Chinese IME treat them as the formula characters), and so are cells
where spaces come before one.

Reading a sheet back (a corrected PATH.rejected.csv is ingested again) undoes exactly that
prefix, so the value that goes on is the one the department first sent.
"""

from __future__ import annotations

FORMULA_STARTS = frozenset("=+-@\t\r＝＋－＠")
_LEADING_SPACES = " \u3000"  # ASCII and ideographic space
QUOTE = "'"


def _risky(text: str) -> bool:
    stripped = text.lstrip(_LEADING_SPACES)
    return bool(stripped) and stripped[0] in FORMULA_STARTS


def escape_formula(text: str) -> str:
    """`text` as a spreadsheet will show it, never run it: `'` before a formula start."""
    return QUOTE + text if _risky(text) else text


def unescape_formula(text: str) -> str:
    """The value escape_formula was given: one `'` removed before a formula start."""
    if text.startswith(QUOTE) and _risky(text[1:]):
        return text[1:]
    return text


__all__ = ["FORMULA_STARTS", "escape_formula", "unescape_formula"]
