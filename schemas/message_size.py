"""How big a Kafka message is against the topics' limit, and dead letters cut to fit it (pure).

Every produce checks `fits` first: librdkafka refuses a message over its `message.max.bytes`
(key + value + headers) with "Message size too large", which crashed the stage loop before
its commit and brought it back to the same batch forever. A dead letter must always be
accepted, so one that would not fit is cut (`fit_dead_letter`): the original stays whole
where it came from (its topic, partition and offset are in the dead letter's headers), the
oversized parts are cut with a marker and named in the `creditsync.truncated-fields` header.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

Header = tuple[str, bytes]

# librdkafka's producer default `message.max.bytes` (key + value + headers, uncompressed),
# below the broker's default `max.message.bytes` of 1,048,588 for a compressed record batch
# (lz4 grows incompressible data by well under 1 %); topics are created with the latter
# (schemas/topics.py), so anything that passes `fits` is accepted end to end.
MESSAGE_LIMIT_BYTES = 1_000_000
TOPIC_MAX_MESSAGE_BYTES = 1_048_588
# Per header: librdkafka counts the name and value plus their varint lengths (at most 5
# bytes each); per message, the record framing it adds before comparing (an upper bound).
_HEADER_OVERHEAD = 10
_RECORD_OVERHEAD = 64
TRUNCATED_HEADER = "creditsync.truncated-fields"
# A header or JSON text longer than this is cut first when a dead letter does not fit.
_KEEP_TEXT_BYTES = 4096
# Room kept free for the truncation header and markers themselves.
_SLACK = 2048


def message_size(key: bytes | None, value: bytes | None, headers: Sequence[Header] = ()) -> int:
    """The size librdkafka checks against `message.max.bytes`."""
    size = _RECORD_OVERHEAD + len(key or b"") + len(value or b"")
    for name, data in headers:
        size += len(name.encode()) + len(data or b"") + _HEADER_OVERHEAD
    return size


def fits(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[Header] = (),
    limit: int = MESSAGE_LIMIT_BYTES,
) -> bool:
    return message_size(key, value, headers) <= limit


def marker(cut: int) -> str:
    """What replaces the end of a cut text."""
    return f"…[truncated {cut} bytes]"


def cut_text(text: str, keep_bytes: int) -> tuple[str, int]:
    """`text` cut to about `keep_bytes` of UTF-8 (on a character boundary) plus the marker;
    the bytes cut (0: kept whole)."""
    data = text.encode()
    if len(data) <= keep_bytes:
        return text, 0
    kept = data[:keep_bytes].decode("utf-8", "ignore")
    cut = len(data) - len(kept.encode())
    return kept + marker(cut), cut


def _cut_bytes(data: bytes, keep_bytes: int) -> bytes:
    cut = len(data) - keep_bytes
    return data[:keep_bytes] + marker(cut).encode()


def _long_strings(node: Any, path: str, found: list[tuple[int, str, Any, Any]]) -> None:
    """(size, path, container, key) of every string in a JSON document, for cutting."""
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        where = f"{path}.{k}" if path else str(k)
        if isinstance(v, str):
            found.append((len(v.encode()), where, node, k))
        elif isinstance(v, dict | list):
            _long_strings(v, where, found)


def _cut_json(value: bytes, room: int, cut: list[str]) -> bytes | None:
    """A JSON object's longest strings cut until the document takes at most `room` bytes;
    None when the value is not a JSON object or cannot be made to fit that way."""
    if not value.startswith(b"{"):
        return None
    try:
        document = json.loads(value)
    except ValueError:
        return None
    found: list[tuple[int, str, Any, Any]] = []
    _long_strings(document, "", found)
    size = len(value)
    for length, where, container, k in sorted(found, key=lambda f: -f[0]):
        if size <= room or length <= _KEEP_TEXT_BYTES:
            break
        container[k], removed = cut_text(container[k], _KEEP_TEXT_BYTES)
        size -= removed
        cut.append(where)
    encoded = json.dumps(document, ensure_ascii=False).encode()
    return encoded if len(encoded) <= room else None


def fit_dead_letter(
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[Header],
    limit: int = MESSAGE_LIMIT_BYTES,
) -> tuple[bytes | None, bytes | None, list[Header]]:
    """The dead letter as it is when it fits `limit`; otherwise cut so it does: long header
    values first (a reason quoting a huge value, an original header), then the longest
    strings of a JSON value (an adapter's rejected fields), then the value's bytes."""
    headers = list(headers)
    if fits(key, value, headers, limit):
        return key, value, headers
    cut: list[str] = []
    budget = limit - _SLACK
    for i, (name, data) in enumerate(headers):
        if len(data or b"") > _KEEP_TEXT_BYTES:
            text, _ = cut_text((data or b"").decode("utf-8", "replace"), _KEEP_TEXT_BYTES)
            headers[i] = (name, text.encode())
            cut.append(f"header:{name}")
    if len(key or b"") > _KEEP_TEXT_BYTES:
        key = _cut_bytes(key or b"", _KEEP_TEXT_BYTES)
        cut.append("key")
    room = budget - message_size(key, None, headers) - len(TRUNCATED_HEADER) - 200
    if value is not None and len(value) > room:
        json_cut: list[str] = []
        fitted = _cut_json(value, room, json_cut)
        if fitted is not None:
            value = fitted
            cut += [f"value.{where}" for where in json_cut]
        else:
            value = _cut_bytes(value, max(0, room - 64))
            cut.append("value")
    named, _ = cut_text(",".join(cut), 150)
    headers.append((TRUNCATED_HEADER, named.encode()))
    return key, value, headers
