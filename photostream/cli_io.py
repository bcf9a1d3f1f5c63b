"""`publish` and `tail`: the event log from a terminal, as JSON lines."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

from photostream.contracts.catalog import DLQ_SUFFIX, UnknownTopicError, is_tombstone
from photostream.contracts.catalog import topic as catalog_topic
from photostream.contracts.codec import DecodeError, EventCodec
from photostream.erasure import PERSONAL, Eraser, closed_accounts
from photostream.kafka_config import client_config
from photostream.settings import Settings
from photostream.topic_ranges import partitions_of
from producers.events import build
from producers.publisher import Publisher, PublishError, PublishResult
from producers.validation import EventValidationError


def publish_lines(settings: Settings, topic: str, lines: Iterable[str], out: Callable[[str], None]) -> int:
    """Publish every valid line; report each line's partition/offset or error, in input order. Returns the
    failure count. A line the broker refuses (too large, say) is that line's error: the others still go out."""
    catalog_topic(topic)  # unknown topics fail before reading anything
    if topic.endswith(DLQ_SUFFIX):  # dead letters are parked by processors, with headers, never published
        raise UnknownTopicError(f"{topic}: a DLQ takes no events (processors park records there; "
                                f"`photostream dlq redrive {topic.removesuffix(DLQ_SUFFIX)}` sends them back)")
    outcomes: list[tuple[int, str | Future[PublishResult]]] = []
    with Publisher(settings) as publisher:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                fields = json.loads(line)
                if not isinstance(fields, dict):
                    raise EventValidationError(None, "each line must be a JSON object")
                outcomes.append((number, publisher.submit(build(topic, fields))))
            except json.JSONDecodeError as exc:
                outcomes.append((number, f"invalid JSON: {exc.msg} (column {exc.colno})"))
            except (EventValidationError, PublishError) as exc:
                outcomes.append((number, printable(str(exc))))
        publisher.flush()
    failures = 0
    for number, outcome in outcomes:
        if isinstance(outcome, str):
            failures += 1
            out(f"line {number}: error: {outcome}")
            continue
        try:
            result = outcome.result()
        except Exception as exc:
            failures += 1
            out(f"line {number}: error: {printable(str(exc))}")
            continue
        out(f"line {number}: partition {result.partition} offset {result.offset} event_id {result.event_id}")
    return failures


def printable(text: str) -> str:
    """``text`` with what has no UTF-8 form (a lone surrogate a line named, in a field name say) escaped: one bad
    line's report crashed the command, and the lines after it went unreported."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _render(codec: EventCodec, topic: str, message: Any) -> dict[str, Any]:
    if topic.endswith(DLQ_SUFFIX):
        headers = {k: v.decode(errors="replace") if v is not None else None for k, v in (message.headers() or [])}
        value = message.value()  # None: a null record (a tombstone) was parked, and stays null
        return {"partition": message.partition(), "offset": message.offset(), "headers": headers,
                "value_base64": None if value is None else base64.b64encode(value).decode()}
    if is_tombstone(topic, message.value()):  # a deleted account's marker on a compacted topic
        key = message.key()
        return {"_deleted": key.decode(errors="replace") if key is not None else None,
                "partition": message.partition(), "offset": message.offset()}
    try:
        return codec.decode(topic, message.value() or b"")
    except DecodeError as exc:
        return {"_undecodable": str(exc), "partition": message.partition(), "offset": message.offset()}


#: records taken at once when more have arrived: what is checked for deleted authors together (one question)
TAIL_BATCH = 500


def tail_topic(
    settings: Settings, topic: str, from_beginning: bool, max_records: int = 0, idle_timeout: float = 0.0,
) -> Iterator[dict[str, Any]]:
    """Yield decoded records of every partition; no consumer group offsets are committed."""
    catalog_topic(topic)
    consumer = Consumer(client_config(settings, **{
        "group.id": f"photostream-tail-{uuid.uuid4()}", "enable.auto.commit": False,
        "fetch.queue.backoff.ms": 10,
    }))
    codec = EventCodec()
    closed = closed_accounts(settings) if topic in PERSONAL else None  # (deleted accounts' words: erased)
    eraser = Eraser(topic, closed) if closed is not None else None
    try:
        kafka_topic = settings.topic_names.physical(topic)  # the namespace's topic on the broker
        start = OFFSET_BEGINNING if from_beginning else OFFSET_END
        partitions = partitions_of(consumer, kafka_topic, settings.kafka_admin_timeout_s)
        consumer.assign([TopicPartition(kafka_topic, p, start) for p in partitions])
        seen, last = 0, time.monotonic()
        while max_records == 0 or seen < max_records:
            message = consumer.poll(0.5)
            if message is None or message.error():
                if idle_timeout and time.monotonic() - last > idle_timeout:
                    return
                continue
            last = time.monotonic()
            wanted = TAIL_BATCH if max_records == 0 else min(TAIL_BATCH, max_records - seen)
            arrived = [message, *(m for m in consumer.consume(wanted - 1, 0) if not m.error())] if wanted > 1 \
                else [message]
            records = [_render(codec, topic, m) for m in arrived]
            if eraser is not None:
                eraser.erase([r for r in records if "_undecodable" not in r and "_deleted" not in r])
            for record in records:
                seen += 1
                yield record
    finally:
        consumer.close()
        if closed is not None:
            closed.close()
