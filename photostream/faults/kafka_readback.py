"""Reading a whole topic back, outside any consumer group, to count what the broker really kept."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from photostream.contracts.codec import EventCodec
from photostream.kafka_config import client_config
from photostream.settings import Settings


@dataclass(frozen=True)
class Verdict:
    """What the topic holds compared with what the producer was told was acknowledged."""

    records: int
    distinct: int
    duplicated: int  # ids seen more than once (the extra copies)
    lost: int  # acknowledged ids the topic does not hold
    unacknowledged_present: int  # ids whose publish failed yet landed (a failure is not proof of absence)


def read_event_ids(settings: Settings, logical_topic: str, timeout_s: float = 120.0) -> Counter[str]:
    """Every event id in every partition from the beginning to the high watermark seen at the start."""
    topic = settings.topic_names.physical(logical_topic)
    consumer = Consumer(client_config(settings, **{
        "group.id": f"fault-readback-{uuid.uuid4()}", "enable.auto.commit": False,
        "enable.partition.eof": False}))
    codec = EventCodec()
    seen: Counter[str] = Counter()
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends: dict[int, int] = {}
        for partition in partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            ends[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p, end in ends.items() if end > 0])
        positions = {p: 0 for p, end in ends.items() if end > 0}
        deadline = time.monotonic() + timeout_s
        while any(positions[p] < ends[p] for p in positions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"read-back of {topic} stopped at {positions} of {ends}")
            for message in consumer.consume(1000, timeout=1.0):
                if message.error():
                    continue
                partition, offset = message.partition() or 0, message.offset() or 0
                positions[partition] = offset + 1
                seen[str(codec.decode(logical_topic, message.value() or b"")["event_id"])] += 1
    finally:
        consumer.close()
    return seen


def verdict(seen: Counter[str], acknowledged: set[str], failed: set[str]) -> Verdict:
    return Verdict(
        records=sum(seen.values()),
        distinct=len(seen),
        duplicated=sum(count - 1 for count in seen.values() if count > 1),
        lost=len(acknowledged - seen.keys()),
        unacknowledged_present=len(failed & seen.keys()),
    )
