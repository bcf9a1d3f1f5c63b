"""Reading back exactly the records a test produced, by partition and offset (no scanning of history)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from photostream.contracts.codec import EventCodec
from photostream.kafka_config import client_config
from photostream.settings import Settings
from producers.dlq import SOURCE_OFFSET, SOURCE_PARTITION, SOURCE_TOPIC


def read_message(settings: Settings, topic: str, partition: int, offset: int, timeout_s: float = 15) -> Message:
    consumer = Consumer(client_config(settings, **{"group.id": "test-reader", "enable.auto.commit": False,
                                                   "fetch.queue.backoff.ms": 10}))
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        message = consumer.poll(timeout_s)
        assert message is not None and not message.error(), f"no record at {topic}/{partition}@{offset}"
        return message
    finally:
        consumer.close()


def read_event(settings: Settings, topic: str, partition: int, offset: int) -> dict[str, Any]:
    return EventCodec().decode(topic, read_message(settings, topic, partition, offset).value())


def dlq_records_for(settings: Settings, topic: str, source_partition: int, source_offset: int,
                    enough: Callable[[list[Message]], bool], timeout_s: float = 30) -> list[Message]:
    """The DLQ records whose headers point at the given source record (one per processor that parked it),
    read until ``enough`` of them are in or the deadline passes."""
    import time
    import uuid

    consumer = Consumer(client_config(settings, **{"group.id": f"test-dlq-{uuid.uuid4()}",
                                                   "enable.auto.commit": False, "auto.offset.reset": "earliest",
                                                   "fetch.queue.backoff.ms": 10}))
    found: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        consumer.subscribe([topic + ".dlq"])
        while time.monotonic() < deadline and not enough(found):
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            headers = dict(message.headers() or [])
            if (headers.get("dlq.source.partition") == str(source_partition).encode()
                    and headers.get("dlq.source.offset") == str(source_offset).encode()):
                found.append(message)
        return found
    finally:
        consumer.close()


def find_dlq_record(settings: Settings, topic: str, source_partition: int, source_offset: int,
                    timeout_s: float = 30) -> Message:
    """The (first) DLQ record whose headers point at the given source record."""
    found = dlq_records_for(settings, topic, source_partition, source_offset, bool, timeout_s)
    assert found, f"no DLQ record for {topic}/{source_partition}@{source_offset}"
    return found[0]


def parked_between(settings: Settings, since: dict[tuple[str, int], int], until: dict[tuple[str, int], int],
                   timeout_s: float = 30) -> set[tuple[str, int, int]]:
    """(topic, partition, offset) of the source of every DLQ record between two readings of the DLQs' end offsets
    (catalog names, as ``streams.consumer_groups.end_offsets`` gives them)."""
    import time
    import uuid

    names = settings.topic_names
    wanted = {(names.physical(t), p): (since.get((t, p), 0), end) for (t, p), end in until.items()
              if end > since.get((t, p), 0)}
    if not wanted:
        return set()
    consumer = Consumer(client_config(settings, **{"group.id": f"test-dlq-{uuid.uuid4()}", "enable.auto.commit": False,
                                                   "fetch.queue.backoff.ms": 10}))
    found: set[tuple[str, int, int]] = set()
    deadline = time.monotonic() + timeout_s
    try:
        consumer.assign([TopicPartition(t, p, start) for (t, p), (start, _) in wanted.items()])
        left = {tp: end for tp, (_, end) in wanted.items()}
        while left and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            headers = dict(message.headers() or [])
            found.add((names.logical(headers[SOURCE_TOPIC].decode()), int(headers[SOURCE_PARTITION]),
                       int(headers[SOURCE_OFFSET])))
            where = (str(message.topic()), int(message.partition() or 0))
            if (message.offset() or 0) + 1 >= left.get(where, 0):
                left.pop(where, None)
        assert not left, f"DLQ records not read back in {timeout_s} s: {left}"
        return found
    finally:
        consumer.close()
