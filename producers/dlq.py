"""The one way every consumer parks a poison record: its bytes, unchanged, on ``<topic>.dlq``.

Headers say what went wrong and where the record came from, so an operator can fix and replay it.
Consumers hand a batch's poison records to :func:`dead_letter_many` (through
``streams.engine.dead_letters``) and carry on; the source offsets still move past the records.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from typing import NamedTuple

from photostream.contracts.catalog import DLQ_SUFFIX
from producers.ids import now_ms
from producers.publisher import Publisher, RawRecord

HEADER_PREFIX = "dlq."


class PoisonRecord(NamedTuple):
    """A record a processor could not handle, with its coordinates (a named tuple: a poison storm builds one per
    record, a third of a frozen dataclass's cost)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


#: the header names, in the order they are written
ERROR_CLASS, ERROR_MESSAGE, SOURCE_TOPIC, SOURCE_PARTITION, SOURCE_OFFSET, PROCESSOR, TIME = (
    f"{HEADER_PREFIX}{name}" for name in
    ("error.class", "error.message", "source.topic", "source.partition", "source.offset", "processor", "time"))


def dlq_headers(record: PoisonRecord, error: BaseException, processor: str, at_ms: int | None = None,
                encoded: dict[str, bytes] | None = None) -> list[tuple[str, str | bytes | None]]:
    """The DLQ record's headers. ``encoded``: a batch's memo of the texts its records repeat (topics, error
    classes and messages, partitions, the processor, the time), each encoded once per batch, not per record."""
    memo = {} if encoded is None else encoded
    texts = (type(error).__name__, str(error)[:2000], record.topic, str(record.partition), processor,
             str(now_ms() if at_ms is None else at_ms))
    for text in texts:
        if text not in memo:
            memo[text] = text.encode()
    kind, message, topic, partition, by, at = (memo[text] for text in texts)
    return [(ERROR_CLASS, kind), (ERROR_MESSAGE, message), (SOURCE_TOPIC, topic), (SOURCE_PARTITION, partition),
            (SOURCE_OFFSET, str(record.offset).encode()), (PROCESSOR, by), (TIME, at)]


def dead_letter_many(
    publisher: Publisher, rejected: Sequence[tuple[PoisonRecord, BaseException]], processor: str
) -> Future[int]:
    """Send every rejected record to its topic's DLQ; one future resolves once all are acknowledged (not a
    future per record, each waking the event loop when it settled)."""
    at_ms, encoded = now_ms(), dict[str, bytes]()
    return publisher.submit_raw_many([
        RawRecord(record.topic.removesuffix(DLQ_SUFFIX) + DLQ_SUFFIX, record.key, record.value or b"",
                  dlq_headers(record, error, processor, at_ms, encoded))
        for record, error in rejected
    ])
