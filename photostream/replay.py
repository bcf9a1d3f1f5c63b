"""`photostream replay`: export a topic's records between two points to JSON lines, CSV or Parquet.

The analysts' export. It never joins a consumer group nor commits: partitions are assigned directly, so a
replay neither disturbs nor shows up among the groups SREs watch. Every partition is read from its resolved
start to its resolved stop (:mod:`photostream.replay_range`; times go through Kafka's offsets-for-times
lookup; the reading itself: :mod:`photostream.topic_ranges`); records are decoded by fingerprint into the
topic's current schema, stripped of deleted accounts' words (:mod:`photostream.erasure`), and handed to the
format writer in batches (:mod:`photostream.replay_writers`), so memory is bounded by the batch size. A
record that does not decode is counted and written, with its bytes, to a side file; it never stops the export.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from confluent_kafka import Consumer, Message, TopicPartition

from photostream.contracts.catalog import DLQ_SUFFIX, is_tombstone
from photostream.contracts.catalog import topic as catalog_topic
from photostream.contracts.codec import DecodeError, EventCodec
from photostream.erasure import PERSONAL, ClosedAccounts, Eraser, ErasureUnavailableError, closed_accounts
from photostream.kafka_config import client_config
from photostream.replay_range import PartitionRange, Point, partition_range
from photostream.replay_writers import Format, RowWriter, open_writer
from photostream.settings import Settings
from photostream.topic_ranges import RangeReadError, read_ranges, watermarks

#: records per write (one Parquet row group): bounds memory, big enough for columnar compression
DEFAULT_BATCH = 5_000
_TIMEOUT_S = 10.0


class ReplayError(RuntimeError):
    """The topic cannot be replayed (unknown, no schema, broker unreachable, or reading stalled)."""


@dataclass
class ReplayReport:
    """What was exported, per partition; ``side_file`` exists only when some record did not decode."""

    ranges: list[PartitionRange]
    written: dict[int, int] = field(default_factory=dict)
    undecodable: dict[int, int] = field(default_factory=dict)
    #: records inside the offsets a time end resolved to, but stamped outside ``[from, to)`` (out of order)
    outside: dict[int, int] = field(default_factory=dict)
    #: deletions on a compacted topic (an account purge's tombstones): no row, and not undecodable either
    deleted: dict[int, int] = field(default_factory=dict)
    #: records of deleted accounts written with their personal fields blanked (:mod:`photostream.erasure`)
    erased: int = 0
    side_file: Path | None = None
    seconds: float = 0.0

    @property
    def total_written(self) -> int:
        return sum(self.written.values())

    @property
    def total_undecodable(self) -> int:
        return sum(self.undecodable.values())


def side_file_of(out: Path) -> Path:
    return out.with_name(out.name + ".undecodable.jsonl")


def replay(settings: Settings, topic: str, start: Point, stop: Point, fmt: Format, out: Path, *,
           batch_size: int = DEFAULT_BATCH, stall_timeout_s: float = 30.0,
           on_ranges: Callable[[list[PartitionRange]], None] | None = None,
           on_progress: Callable[[int], None] | None = None) -> ReplayReport:
    """Export ``topic`` between ``start`` and ``stop`` to ``out``; ``on_progress`` gets records handled so far."""
    if topic.endswith(DLQ_SUFFIX):
        raise ReplayError(f"{topic} holds raw bytes of failed records; use `photostream tail {topic}`")
    codec = EventCodec()
    try:
        reader_schema = codec.store.current(topic)
    except LookupError as exc:
        raise ReplayError(str(exc)) from None
    consumer = Consumer(client_config(settings, **{
        # assigned, never subscribed and never committed: this id is never joined or stored by the broker
        "group.id": f"photostream-replay-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
    }))
    began = time.monotonic()
    try:
        kafka_topic = settings.topic_names.physical(topic)  # the namespace's topic on the broker
        ranges = resolve_ranges(consumer, kafka_topic, start, stop)
        if on_ranges:
            on_ranges(ranges)
        report = ReplayReport(ranges, {r.partition: 0 for r in ranges}, {r.partition: 0 for r in ranges})
        writer = open_writer(fmt, out, reader_schema.raw, catalog_topic(topic).unchanged_unless_written)
        side_file_of(out).unlink(missing_ok=True)  # an earlier export's: it would be taken for this one's
        closed = closed_accounts(settings) if topic in PERSONAL else None
        try:
            _Export(consumer, codec, (topic, kafka_topic), writer, report, side_file_of(out), batch_size,
                    time_window(start, stop), closed).run(stall_timeout_s, on_progress)
        except ErasureUnavailableError as exc:
            raise ReplayError(str(exc)) from None
        finally:
            writer.close()
            if closed is not None:
                closed.close()
    finally:
        consumer.close()
    report.seconds = time.monotonic() - began
    return report


def resolve_ranges(consumer: Consumer, topic: str, start: Point, stop: Point) -> list[PartitionRange]:
    """Every partition's ``[start, stop)``: watermarks per partition, one offsets-for-times call per time end."""
    metadata = consumer.list_topics(topic, timeout=_TIMEOUT_S).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise ReplayError(f"topic {topic!r} does not exist on the broker")
    partitions = sorted(metadata.partitions)
    marks = watermarks(consumer, topic, partitions, _TIMEOUT_S)

    def lookup(point: Point) -> dict[int, int]:
        if point.kind != "time":
            return {}
        found = consumer.offsets_for_times([TopicPartition(topic, p, point.value) for p in partitions],
                                           timeout=_TIMEOUT_S)
        return {tp.partition: tp.offset for tp in found}

    starts, stops = lookup(start), lookup(stop)
    return [partition_range(p, start, stop, marks[p][0], marks[p][1], starts.get(p), stops.get(p))
            for p in partitions]


def time_window(start: Point, stop: Point) -> tuple[int | None, int | None]:
    """The record times a replay keeps: ``[from, to)`` for the ends given as times, open otherwise.

    Why filter when the offsets were resolved from the times: a partition's record times need not rise with
    its offsets (several producers, clock skew, a producer's own timestamps), and offsets-for-times only gives
    the first offset stamped at or after a time, so the range held records stamped before ``--from``."""
    return (start.value if start.kind == "time" else None), (stop.value if stop.kind == "time" else None)


class _Export:
    """The read loop of one replay: consume, decode, batch, write; partitions leave as they reach their stop."""

    def __init__(self, consumer: Consumer, codec: EventCodec, topics: tuple[str, str], writer: RowWriter,
                 report: ReplayReport, side_path: Path, batch_size: int,
                 window: tuple[int | None, int | None] = (None, None), closed: ClosedAccounts | None = None) -> None:
        """``topics``: the catalog's name (for decoding) and the broker's (the namespace's) name; ``window``:
        the record times kept (:func:`time_window`); ``closed``: who was deleted, for a topic that carries
        people's words."""
        self.consumer, self.codec, self.writer = consumer, codec, writer
        self.eraser = Eraser(topics[0], closed) if closed is not None else None
        self.window = window
        self.topic, self.kafka_topic = topics
        self.report, self.side_path, self.batch_size = report, side_path, batch_size
        self.side: IO[str] | None = None
        self.rows: list[dict[str, Any]] = []
        self.handled = 0

    def run(self, stall_timeout_s: float, on_progress: Callable[[int], None] | None) -> None:
        ranges = {r.partition: (r.start, r.stop) for r in self.report.ranges}
        try:
            for messages in read_ranges(self.consumer, self.kafka_topic, ranges, self.batch_size, stall_timeout_s):
                for message in messages:
                    self._take(message)
                if len(self.rows) >= self.batch_size:
                    self._flush()
                if on_progress:
                    on_progress(self.handled)
            self._flush()
        except RangeReadError as exc:
            raise ReplayError(str(exc)) from None
        finally:
            if self.side is not None:
                self.side.close()

    def _take(self, message: Message) -> None:
        partition, offset = message.partition() or 0, message.offset() or 0
        self.handled += 1
        _, timestamp = message.timestamp()
        low, high = self.window
        if (low is not None and timestamp < low) or (high is not None and timestamp >= high):
            self.report.outside[partition] = self.report.outside.get(partition, 0) + 1
            return
        if is_tombstone(self.topic, message.value()):
            self.report.deleted[partition] = self.report.deleted.get(partition, 0) + 1
            return
        try:
            record = self.codec.decode(self.topic, message.value() or b"")
        except DecodeError as exc:
            self._dead(message, partition, timestamp, exc)
        else:
            key = message.key()
            self.rows.append({"_partition": partition, "_offset": offset, "_timestamp": timestamp,
                              "_key": key.decode(errors="replace") if key is not None else None, **record})
            self.report.written[partition] += 1

    def _dead(self, message: Message, partition: int, timestamp: int, exc: DecodeError) -> None:
        if self.side is None:
            self.side = self.side_path.open("w", encoding="utf-8")
            self.report.side_file = self.side_path
        self.side.write(json.dumps({
            "partition": partition, "offset": message.offset(), "timestamp": timestamp,
            "error": str(exc),  # a null record's value is null, not "" (empty bytes: another record)
            "value_base64": None if (value := message.value()) is None else base64.b64encode(value).decode(),
        }) + "\n")
        self.report.undecodable[partition] += 1

    def _flush(self) -> None:
        if self.rows:
            if self.eraser is not None:
                self.report.erased += self.eraser.erase(self.rows)
            self.writer.write(self.rows)
            self.rows = []
