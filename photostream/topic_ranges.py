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

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

#: seconds one consume waits for records
_POLL_S = 0.5


class RangeReadError(RuntimeError):
    """The broker reported an error for a partition, or nothing came for too long."""


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
                                     f"{topic} short of their stop offsets")
        taken: list[Message] = []
        for message in messages:
            partition, offset = message.partition(), message.offset()
            if partition is None or offset is None or partition not in stops:
                continue
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    raise RangeReadError(f"reading {topic}[{partition}]: {error}")
                finish(partition)
            elif offset >= stops[partition]:
                finish(partition)
            else:
                taken.append(message)
                if offset + 1 >= stops[partition]:
                    finish(partition)
        if taken:
            yield taken
