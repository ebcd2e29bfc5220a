"""Compact JSON bytes (schemas.json_bytes): the text the standard library wrote before."""

from __future__ import annotations

import json

from schemas import json_bytes


def test_same_bytes_as_the_standard_librarys_compact_form() -> None:
    value = {"uscc": "91640422MA76Y5XX0X", "name": "宁夏丰源农业科技有限公司", "n": [1, None, True]}
    expected = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    assert json_bytes.dumps(value) == expected
    assert type(json_bytes.dumps(value)) is bytes
