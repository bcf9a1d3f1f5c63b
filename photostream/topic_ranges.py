"""Reading fixed offset ranges of a topic's partitions, outside any consumer group: the replay export and the
DLQ redrive both read "from here to where the topic ended when the run began", and only that.

The consumer is assigned, never subscribed; each partition leaves the assignment as soon as it reaches its stop:
at its last record in range, at the end of the partition (when the caller's consumer reports it), or when its
position has passed the stop without a record there (offsets that hold none: transaction markers, records
compacted or expired away).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

#: seconds one consume waits for records
_POLL_S = 0.5
#: the most records one ``consume`` call takes (librdkafka refuses more): the largest ``--batch`` a replay takes
MAX_BATCH = 1_000_000
#: what a partition of a topic created moments ago answers until its leader is elected
_NO_LEADER_YET = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
                  KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION}
#: seconds between two asks of a partition without a leader
_ASK_AGAIN_S = 0.1


class TopicAbsentError(RuntimeError):
    """A catalog topic the broker does not have (this namespace's ``photostream stack up`` never ran)."""


def partitions_of(consumer: Consumer, topic: str, timeout_s: float = 10.0) -> list[int]:
    """The partitions of ``topic`` on the broker; :class:`TopicAbsentError` if it has none. (Its absence read as
    no partitions: ``tail`` waited forever on nothing and ``dlq summary`` counted 0 records, exit 0.)"""
    found = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    if found is None or found.error is not None or not found.partitions:
        raise TopicAbsentError(f"topic {topic!r} does not exist on the broker (`photostream stack up` creates "
                               f"the namespace's topics)")
    return sorted(found.partitions)


class RangeReadError(RuntimeError):
    """The broker reported a fatal error, or nothing came for too long (with the last transient error seen)."""


def watermarks(consumer: Consumer, topic: str, partitions: list[int], timeout_s: float = 10.0
               ) -> dict[int, tuple[int, int]]:
    """Each partition's (low, high) offsets, asked of its leader. A partition of a topic just created has none
    for a moment (the namespace's topics are created on first use): it is asked again until ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    marks: dict[int, tuple[int, int]] = {}
    for partition in partitions:
        while partition not in marks:
            try:
                marks[partition] = consumer.get_watermark_offsets(TopicPartition(topic, partition),
                                                                  timeout=timeout_s, cached=False)
            except KafkaException as exc:
                if exc.args[0].code() not in _NO_LEADER_YET or time.monotonic() > deadline:
                    raise
                time.sleep(_ASK_AGAIN_S)
    return marks


def read_ranges(consumer: Consumer, topic: str, ranges: Mapping[int, tuple[int, int]], batch_size: int,
                stall_timeout_s: float) -> Iterator[list[Message]]:
    """Batches of the records of each partition's ``[start, stop)`` (``ranges``: partition → (start, stop)),
    in offset order per partition. Raises :class:`RangeReadError` when nothing arrives for ``stall_timeout_s``
    while partitions are short of their stops."""
    stops = {p: stop for p, (start, stop) in ranges.items() if stop > start}
    if not stops:
        return
    consumer.assign([TopicPartition(topic, p, ranges[p][0]) for p in stops])

    def finish(partition: int) -> None:
        del stops[partition]
        consumer.incremental_unassign([TopicPartition(topic, partition)])

    last_record = time.monotonic()
    last_error = ""
    while stops:
        messages = consumer.consume(batch_size, timeout=_POLL_S)
        if messages:
            last_record = time.monotonic()
        else:
            for tp in consumer.position([TopicPartition(topic, p) for p in stops]):
                if tp.offset >= stops[tp.partition]:
                    finish(tp.partition)
            if stops and time.monotonic() - last_record > stall_timeout_s:
                raise RangeReadError(f"no record for {stall_timeout_s:.0f}s with partitions {sorted(stops)} of "
                                     f"{topic} short of their stop offsets"
                                     + (f" (last error: {last_error})" if last_error else ""))
        taken: list[Message] = []
        for message in messages:
            partition, offset = message.partition(), message.offset()
            if partition is None or offset is None or partition not in stops:
                continue
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    finish(partition)
                elif error.fatal():
                    raise RangeReadError(f"reading {topic}[{partition}]: {error}")
                else:  # e.g. a partition's leader not known yet on a new topic: the consumer retries by itself
                    last_error = f"{topic}[{partition}]: {error}"
            elif offset >= stops[partition]:
                finish(partition)
            else:
                taken.append(message)
                if offset + 1 >= stops[partition]:
                    finish(partition)
        if taken:
            yield taken
