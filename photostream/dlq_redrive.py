"""`photostream dlq`: what a topic's DLQ holds, and sending its records back once the cause is fixed.

Why: a poison record is parked so that nothing accepted is lost; once an operator has fixed what broke it (a
processor bug, a schema released late, a store's data), the record has to reach its processors again. Redrive
re-publishes each parked record's bytes and key, unchanged, to its source topic (so the same partition), with
one header saying where it came from (``dlq.redriven-from``: DLQ partition and offset). Every processor is
idempotent, so a record that one processor had parked and another had applied is harmless to the second.

What was already redriven is remembered as the offsets of the consumer group ``{APP_ID}.dlq-redrive.{topic}``,
moved after each chunk of records is acknowledged: a second run sends only what was parked since (a record
that fails again is parked again, after the mark, for a later run), and a run that fails resends at most its
last chunk. Each run stops at the DLQ's end as it was when the run began. Filters (``--processor``,
``--error-class``) pick which records are sent; the ones they skip are reported and stay behind the mark, so
a later filtered run reaches them only with ``--from-beginning``. A source record parked by two processors is
sent once per run (its copies are parked close together: the last :data:`REMEMBERED_SOURCES` are remembered;
a rare second copy is harmless).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from photostream.contracts.catalog import DLQ_SUFFIX
from photostream.contracts.catalog import topic as catalog_topic
from photostream.kafka_config import client_config
from photostream.settings import Settings
from photostream.topic_ranges import partitions_of, read_ranges, watermarks
from producers.dlq import (
    ERROR_CLASS,
    HEADER_PREFIX,
    PROCESSOR,
    SOURCE_OFFSET,
    SOURCE_PARTITION,
    VALUE_LEFT_OUT,
    headers_of,
)
from producers.publisher import Headers, Publisher, RawRecord

REDRIVEN_FROM = "dlq.redriven-from"
#: records sent (and acknowledged) before the mark moves
CHUNK = 10_000
#: source records remembered to send a record parked by several processors once (copies are parked together)
REMEMBERED_SOURCES = 200_000
_POLL_BATCH = 1000
#: seconds without a record, while partitions are short of their end, before a run gives up
_STALL_S = 30.0


@dataclass
class Tally:
    """What a run found: parked records by (processor, error class), and what it sent or skipped."""

    parked: Counter[tuple[str, str]] = field(default_factory=Counter)
    sent: int = 0
    skipped: int = 0  # not matching the filters
    repeated: int = 0  # the same source record parked by another processor, already sent in this run
    left_out: int = 0  # parked without their value (too large for the DLQ): read them at their source offset


def group_of(settings: Settings, topic: str) -> str:
    return f"{settings.app_id}.dlq-redrive.{topic}"


def summarise(settings: Settings, topic: str) -> Tally:
    """Every record the DLQ of ``topic`` holds, counted by processor and error class (nothing is sent)."""
    tally, topic = Tally(), topic.removesuffix(DLQ_SUFFIX)
    with _Reader(settings, topic, group=None, from_beginning=True) as reader:
        for message in reader.messages():
            tally.parked[_kind(message)] += 1
    return tally


def redrive(settings: Settings, topic: str, processor: str | None = None, error_class: str | None = None,
            dry_run: bool = False, from_beginning: bool = False) -> Tally:
    """Send the DLQ's records parked since the last run (every one with ``from_beginning``) that match the
    filters back to ``topic``, in chunks of :data:`CHUNK` (a DLQ of millions is never held in memory); after
    each chunk is acknowledged, the mark moves past every record read so far (not with ``dry_run``)."""
    tally, chunk, seen = Tally(), list[RawRecord](), set[tuple[bytes, bytes]]()
    topic = topic.removesuffix(DLQ_SUFFIX)  # "like-changed.dlq" names the same DLQ
    read_up_to: dict[int, int] = {}  # DLQ partition -> the offset after the last record read
    publisher = None if dry_run else Publisher(settings)

    def send() -> None:
        if publisher is not None and chunk:
            publisher.submit_raw_many(chunk).result(timeout=settings.publish_timeout_s + 30)
        if publisher is not None:
            reader.mark(read_up_to)  # only once the chunk is acknowledged: a failed run sends it again
        tally.sent += len(chunk)
        chunk.clear()

    try:
        with _Reader(settings, topic, group_of(settings, topic), from_beginning) as reader:
            for message in reader.messages():
                read_up_to[message.partition() or 0] = (message.offset() or 0) + 1
                kind = _kind(message)
                tally.parked[kind] += 1
                if (processor and kind[0] != processor) or (error_class and kind[1] != error_class):
                    tally.skipped += 1
                    continue
                headers = _headers(message)
                if VALUE_LEFT_OUT in headers:  # sending "no value" back would be a different record
                    tally.left_out += 1
                    continue
                source = (headers.get(SOURCE_PARTITION, b""), headers.get(SOURCE_OFFSET, b""))
                if all(source) and source in seen:
                    tally.repeated += 1
                    continue
                if len(seen) >= REMEMBERED_SOURCES:  # bounded: two processors park a record close together
                    seen.clear()
                seen.add(source)
                chunk.append(RawRecord(topic, message.key(), message.value(),  # a null record stays null
                                       [*_own_headers(message),
                                        (REDRIVEN_FROM, f"{message.partition()}@{message.offset()}".encode())]))
                if len(chunk) >= CHUNK:
                    send()
            send()
    finally:
        if publisher is not None:
            publisher.close()
    return tally


def _own_headers(message: Message) -> Headers:
    """The source record's own headers, as parked after the DLQ's (an earlier redrive's mark is not kept)."""
    return [(name, value) for name, value in headers_of(message) if not name.startswith(HEADER_PREFIX)]


def _headers(message: Message) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for header in message.headers() or []:
        value = header[1]
        found[str(header[0])] = value if isinstance(value, bytes) else (value or "").encode()
    return found


def _kind(message: Message) -> tuple[str, str]:
    headers = _headers(message)
    return (headers.get(PROCESSOR, b"?").decode(errors="replace"),
            headers.get(ERROR_CLASS, b"?").decode(errors="replace"))


class _Reader:
    """Reads one DLQ from a start (the group's mark, or the beginning) to its end when the run began."""

    def __init__(self, settings: Settings, topic: str, group: str | None, from_beginning: bool) -> None:
        catalog_topic(topic)  # an unknown topic fails here, naming it (UnknownTopicError)
        self._settings = settings
        self._dlq = settings.topic_names.physical(topic + DLQ_SUFFIX)
        self._group = group
        self._from_beginning = from_beginning
        self._consumer = Consumer(client_config(settings, **{
            "group.id": group or f"photostream-dlq-{uuid.uuid4()}", "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "fetch.queue.backoff.ms": 10,
        }))

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *_: object) -> None:
        self._consumer.close()

    def messages(self) -> Iterator[Message]:
        partitions = partitions_of(self._consumer, self._dlq, self._settings.kafka_admin_timeout_s)
        starts = {p: OFFSET_BEGINNING for p in partitions}
        if self._group and not self._from_beginning:
            marks = self._consumer.committed([TopicPartition(self._dlq, p) for p in partitions],
                                             timeout=self._settings.kafka_admin_timeout_s)
            starts |= {tp.partition: tp.offset for tp in marks if tp.offset >= 0}
        ends = watermarks(self._consumer, self._dlq, list(partitions), self._settings.kafka_admin_timeout_s)
        # (records the DLQ's retention removed are gone)
        ranges = {p: (max(starts[p], low), high) for p, (low, high) in ends.items()}
        for batch in read_ranges(self._consumer, self._dlq, ranges, _POLL_BATCH, _STALL_S):
            yield from batch

    def mark(self, read_up_to: dict[int, int]) -> None:
        """Commit, per partition, the offset after the last record read (the run's end once it was reached)."""
        if self._group and read_up_to:
            self._consumer.commit(offsets=[TopicPartition(self._dlq, p, o) for p, o in read_up_to.items()],
                                  asynchronous=False)
