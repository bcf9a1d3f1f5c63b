"""Poison records go to the topic's DLQ with headers, and the stream carries on."""

from __future__ import annotations

import httpx
from confluent_kafka import Message, Producer

from photostream.contracts.catalog import topic as catalog_topic
from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher, producer_config
from sinks import keys
from sinks.redis_client import sync_client
from tests.integration.kafka_read import dlq_records_for, find_dlq_record
from tests.integration.test_first_flow import token_of
from tests.integration.waiting import wait_for

#: the catalog's partition count of the topics these tests misplace records on
PARTITIONS = catalog_topic("like-changed").partitions


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


def test_a_record_near_the_brokers_size_limit_is_parked_whole_and_the_stream_goes_on(
    settings: Settings, publisher: Publisher, client: httpx.Client, worker: object
) -> None:
    """With the DLQ's headers, a poison record the broker had taken (just under its 1 MiB) was too large for
    the DLQ: the batch failed, and the worker crashed on it again after every restart."""
    post = new_id()
    huge = b"\xc3\x01" + bytes(range(256)) * 4000  # ~1 MB: undecodable, and near the broker's limit
    producer = Producer({**producer_config(settings), "message.max.bytes": 2_000_000})
    landed: list[tuple[int, int]] = []
    producer.produce("like-changed", huge, post.encode(),
                     on_delivery=lambda err, msg: landed.append((msg.partition(), msg.offset())))
    producer.flush(30)
    (partition, offset), = landed
    after = publisher.publish(events.like_changed(post_id=post, user_id=new_id(), action="like"))
    assert after.partition == partition and after.offset > offset
    parked = parked_by(settings, "like-changed", partition, offset, {"popularity", "notifications"})
    assert {headers["dlq.error.class"] for headers in parked.values()} == {"DecodeError"}
    assert find_dlq_record(settings, "like-changed", partition, offset).value() == huge  # whole: redrivable
    redis = sync_client(settings)
    for processor in ("popularity", "notifications"):  # both went on past it
        wait_for(lambda name=processor: int(redis.hget(keys.applied_offsets(name, "like-changed"),  # type: ignore[misc]
                                                       str(partition)) or -1),
                 lambda applied: applied >= after.offset, 60, f"{processor} to apply the like after the record")


def parked_by(settings: Settings, topic: str, partition: int, offset: int, expected: set[str],
              timeout_s: float = 60) -> dict[str, dict[str, str]]:
    """The DLQ headers of one source record per processor that parked it, once ``expected`` all have."""
    def by_processor(messages: list[Message]) -> dict[str, dict[str, str]]:
        headers = ({k: v.decode() for k, v in message.headers() or []} for message in messages)
        return {each["dlq.processor"]: each for each in headers}

    found = by_processor(dlq_records_for(settings, topic, partition, offset,
                                         lambda messages: expected <= by_processor(messages).keys(), timeout_s))
    assert expected <= found.keys(), f"parked by {sorted(found)} only"
    return found


def test_a_record_whose_ids_are_not_ids_is_dead_lettered_by_every_processor_alike(
    settings: Settings, client: httpx.Client, worker: object
) -> None:
    """Another producer's ``author_id: "bob"`` was applied by the posts view (served as the author), the feeds
    and the hashtags, and dead-lettered by the notifications processor only: the engines now check every id
    field as they decode."""
    from photostream.contracts.codec import EventCodec
    from producers.ids import now_ms

    post_id = new_id()
    record = {"event_id": new_id(), "occurred_at": now_ms(), "post_id": post_id, "author_id": "bob",
              "caption": "from elsewhere #bobtag", "image_ids": [new_id()], "visibility": "public",
              "location": None}
    partition, offset = produce_raw(settings, "post-created", post_id.encode(),
                                    EventCodec().encode("post-created", record))
    parked = parked_by(settings, "post-created", partition, offset, {"posts", "feeds", "notifications"})
    for headers in parked.values():
        assert headers["dlq.error.class"] == "EventValidationError" and "author_id" in headers["dlq.error.message"]
    assert client.get(f"/posts/{post_id}").status_code == 404


def test_a_null_record_is_parked_as_undecodable_by_the_projectors_too(settings: Settings, worker: object) -> None:
    """The projectors (faust agents until stop 48) parked a null record as a TypeError ("NoneType has no len()"),
    the batch processors as a DecodeError: a redrive filtered by error class missed the projector's copy."""
    user = new_id()
    partition, offset = produce_raw(settings, "user-registered", user.encode(), None)  # type: ignore[arg-type]
    parked = parked_by(settings, "user-registered", partition, offset, {"profiles"})
    assert parked["profiles"]["dlq.error.class"] == "DecodeError"


def test_a_record_on_another_partition_than_its_key_belongs_on_is_dead_lettered_with_the_reason(
    settings: Settings, worker: object
) -> None:
    """A producer with another partitioner (librdkafka's default is CRC32) put a post's like where a second
    worker owns it; both read-modify-wrote the post's counts and lost likes. Every processor of the topic
    now refuses such a record, naming the partition its key belongs on."""
    from photostream.contracts.codec import EventCodec
    from producers.ids import now_ms
    from producers.partitioning import partition_of

    post_id = new_id()
    record = {"event_id": new_id(), "occurred_at": now_ms(), "post_id": post_id, "user_id": new_id(),
              "action": "like", "post_author_id": new_id()}
    home = partition_of(post_id.encode(), PARTITIONS)
    elsewhere = (home + 1) % PARTITIONS
    producer = Producer(producer_config(settings))
    landed: list[tuple[int, int]] = []
    producer.produce(settings.topic_names.physical("like-changed"), EventCodec().encode("like-changed", record),
                     post_id.encode(), partition=elsewhere,
                     on_delivery=lambda err, msg: landed.append((msg.partition(), msg.offset())))
    producer.flush(10)
    partition, offset = landed[0]
    assert partition == elsewhere
    parked = parked_by(settings, "like-changed", partition, offset, {"popularity", "notifications"})
    for headers in parked.values():
        assert headers["dlq.error.class"] == "EventValidationError"
        assert f"belongs on partition {home} of {PARTITIONS}" in headers["dlq.error.message"]


def test_a_misplaced_post_is_refused_by_the_projectors_as_by_the_batch_loops(
    settings: Settings, client: httpx.Client, worker: object
) -> None:
    """The projectors (then faust agents) applied it: the post was on its author's grid and in no feed nor
    hashtag."""
    from photostream.contracts.codec import EventCodec
    from producers.ids import now_ms
    from producers.partitioning import partition_of

    post_id, author = new_id(), new_id()
    record = {"event_id": new_id(), "occurred_at": now_ms(), "post_id": post_id, "author_id": author,
              "caption": "misplaced", "image_ids": [new_id()], "visibility": "public", "location": None}
    elsewhere = (partition_of(author.encode(), PARTITIONS) + 1) % PARTITIONS
    producer = Producer(producer_config(settings))
    landed: list[tuple[int, int]] = []
    producer.produce(settings.topic_names.physical("post-created"), EventCodec().encode("post-created", record),
                     author.encode(), partition=elsewhere,
                     on_delivery=lambda err, msg: landed.append((msg.partition(), msg.offset())))
    producer.flush(10)
    parked = parked_by(settings, "post-created", *landed[0], {"posts", "feeds", "notifications"})
    assert all("belongs on partition" in headers["dlq.error.message"] for headers in parked.values())
    assert client.get(f"/posts/{post_id}").status_code == 404
