"""The one way every consumer parks a poison record: its bytes, unchanged, on ``<topic>.dlq``.

Headers say what went wrong and where the record came from, so an operator can fix and replay it.
Consumers hand a batch's poison records to :func:`dead_letter_many` (through
``streams.engine.dead_letters``) and carry on; the source offsets still move past the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from photostream.contracts.catalog import DLQ_SUFFIX
from producers.ids import now_ms
from producers.publisher import Publisher, PublishResult

HEADER_PREFIX = "dlq."


@dataclass(frozen=True)
class PoisonRecord:
    """A record a processor could not handle, with its coordinates."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def dlq_headers(record: PoisonRecord, error: BaseException, processor: str) -> dict[str, bytes]:
    return {
        f"{HEADER_PREFIX}error.class": type(error).__name__.encode(),
        f"{HEADER_PREFIX}error.message": str(error)[:2000].encode(),
        f"{HEADER_PREFIX}source.topic": record.topic.encode(),
        f"{HEADER_PREFIX}source.partition": str(record.partition).encode(),
        f"{HEADER_PREFIX}source.offset": str(record.offset).encode(),
        f"{HEADER_PREFIX}processor": processor.encode(),
        f"{HEADER_PREFIX}time": str(now_ms()).encode(),
    }


def dead_letter_many(
    publisher: Publisher, rejected: Sequence[tuple[PoisonRecord, BaseException]], processor: str
) -> Future[int]:
    """Send every rejected record to its topic's DLQ; one future resolves once all are acknowledged (a future
    per record cost a poison storm as much as producing it, and woke the event loop once per record)."""
    return publisher.submit_raw_many([
        (record.topic.removesuffix(DLQ_SUFFIX) + DLQ_SUFFIX, record.value or b"", record.key,
         dlq_headers(record, error, processor))
        for record, error in rejected
    ])
