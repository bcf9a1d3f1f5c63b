"""Start a test run's consumer groups at the log end, so a run processes its own events, not all history."""

from __future__ import annotations

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from photostream.kafka_config import client_config
from photostream.settings import Settings
from streams.hashtags.counter import HashtagCounter
from streams.hashtags.extractor import HashtagExtractor
from streams.hashtags.popularity import PopularityUpdater

PROJECTOR_TOPICS = ("user-registered", "profile-updated", "post-created", "post-deleted")


def groups_of(app_id: str) -> dict[str, tuple[str, ...]]:
    """Every consumer group a worker with ``app_id`` uses, with its topics."""
    groups = {app_id: PROJECTOR_TOPICS}
    for processor in (HashtagExtractor, HashtagCounter, PopularityUpdater):
        groups[f"{app_id}.{processor.name}"] = processor.topics
    return groups


def end_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    topics = {t for ts in groups_of("x").values() for t in ts} | {"post-hashtag"}
    consumer = Consumer(client_config(settings, **{"group.id": "test-offsets-probe"}))
    try:
        ends = {}
        for topic in topics:
            for partition in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                ends[(topic, partition)] = consumer.get_watermark_offsets(TopicPartition(topic, partition), 10)[1]
        return ends
    finally:
        consumer.close()


def seed_groups(settings: Settings, app_id: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit ``offsets`` for every group of ``app_id`` before its worker starts."""
    admin = AdminClient(client_config(settings))
    for group, topics in groups_of(app_id).items():
        partitions = [TopicPartition(t, p, o) for (t, p), o in offsets.items() if t in topics]
        request = ConsumerGroupTopicPartitions(group, partitions)
        admin.alter_consumer_group_offsets([request])[group].result()
