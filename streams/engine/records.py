"""The unit a processor sees: a decoded event with its coordinates."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: dict[str, Any]


Reject = Callable[[Record, Exception], None]


class BatchProcessor(Protocol):
    """Applies a batch to its sinks; returns only when the effects are durable (then offsets are committed).

    Must be idempotent: after a crash the same records (and duplicates of them) arrive again.
    """

    name: str
    topics: tuple[str, ...]
    #: how long records accumulate before a batch is processed (the counters' tumbling window)
    flush_interval_s: float

    async def process(self, batch: list[Record], reject: Reject) -> None:
        """Apply ``batch``; call ``reject(record, error)`` for a record that is invalid (it goes to the DLQ)."""
