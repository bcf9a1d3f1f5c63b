"""Poison records go to the topic's DLQ with headers, and the stream carries on."""

from __future__ import annotations

import httpx
from confluent_kafka import Producer

from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher, producer_config
from tests.integration.kafka_read import find_dlq_record
from tests.integration.test_first_flow import token_of


def produce_raw(settings: Settings, topic: str, key: bytes, value: bytes,
                headers: list[tuple[str, bytes]] | None = None) -> tuple[int, int]:
    producer = Producer(producer_config(settings))  # (the SDK's partitioner)
    landed: list[tuple[int, int]] = []
    producer.produce(topic, value, key, headers=headers,
                     on_delivery=lambda err, msg: landed.append((msg.partition(), msg.offset())))
    producer.flush(10)
    return landed[0]


def test_undecodable_record_is_dead_lettered_and_the_stream_goes_on(
    settings: Settings, publisher: Publisher, client: httpx.Client, worker: object
) -> None:
    user = new_id()
    garbage = b"\xc3\x01not-avro-at-all"
    partition, offset = produce_raw(settings, "user-registered", user.encode(), garbage, [("trace", b"abc")])
    # a good event for the same key lands after the poison one on the same partition
    result = publisher.publish(events.user_registered(user_id=user, username="after", display_name="After"))
    assert result.partition == partition and result.offset > offset
    answer = client.get(f"/users/{user}", params={"after": token_of(result, settings)})
    assert answer.status_code == 200 and answer.json()["display_name"] == "After"

    dead = find_dlq_record(settings, "user-registered", partition, offset)
    headers = {k: v.decode() for k, v in dead.headers()}
    assert dead.value() == garbage and dead.key() == user.encode()
    assert headers["dlq.error.class"] == "DecodeError"
    assert headers["dlq.source.topic"] == "user-registered"
    assert headers["dlq.processor"] == "profiles"
    assert headers["trace"] == "abc"  # its own, after the DLQ's (a projector dropped them: a redrive lost them)
