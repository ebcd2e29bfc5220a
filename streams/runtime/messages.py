"""The shapes of a consumed message: as confluent-kafka hands it over, and as handlers read it.

`ReceivedMessage` is the part of `confluent_kafka.Message` the loops use (methods, as the C
type has them); tests pass stand-ins of the same shape. `Received` is one copied into plain
attributes, what the stages' handlers and the dead letters read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ReceivedMessage(Protocol):
    """The methods of `confluent_kafka.Message` the loops call."""

    def topic(self) -> str | None: ...

    def partition(self) -> int | None: ...

    def offset(self) -> int | None: ...

    def key(self) -> bytes | None: ...

    def value(self) -> bytes | None: ...

    def headers(self) -> list[tuple[str, bytes]] | None: ...

    def timestamp(self) -> tuple[int, int]: ...


@dataclass(frozen=True, slots=True)
class Received:
    """A consumed message as plain attributes (what handlers and dead letters read)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    @classmethod
    def of(cls, message: ReceivedMessage) -> Received:
        return cls(
            message.topic(), message.partition(), message.offset(), message.key(),
            message.value(), list(message.headers() or []),
        )  # fmt: skip
