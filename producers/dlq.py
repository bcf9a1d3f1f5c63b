"""The one way every consumer parks a poison record: its bytes, unchanged, on ``<topic>.dlq``.

Headers say what went wrong and where the record came from, so an operator can fix and replay it.
Consumers call :func:`dead_letter` and carry on; the source offset still moves past the record.
"""

from __future__ import annotations

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


def dead_letter(
    publisher: Publisher, record: PoisonRecord, error: BaseException, processor: str
) -> Future[PublishResult]:
    """Send ``record`` to its topic's DLQ; the future resolves when the DLQ write is acknowledged."""
    return publisher.submit_raw(
        record.topic.removesuffix(DLQ_SUFFIX) + DLQ_SUFFIX,
        record.key,
        record.value or b"",
        headers=dlq_headers(record, error, processor),
    )
