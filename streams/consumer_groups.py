"""A worker's consumer groups, and starting them at chosen offsets.

Used to start a new app id at the log end (tests and benchmarks, which share topics with everyone on the
stack) or at a recorded position (a replay from a point in time). Groups must have no live members.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from photostream.kafka_config import client_config
from photostream.settings import Settings
from photostream.topic_ranges import watermarks
from streams.account_purge import AccountPurgeProcessor
from streams.app import PROJECTOR_TOPICS
from streams.avatars import AvatarsProcessor
from streams.comments import CommentsProjector
from streams.feeds import FeedProcessor
from streams.follow_requests import FollowRequestsProjector
from streams.hashtags.counter import HashtagCounter
from streams.hashtags.extractor import HashtagExtractor
from streams.hashtags.popularity import PopularityUpdater
from streams.notifications import NotificationsProcessor
from streams.photo_tags import PhotoTagsProcessor
from streams.photos import PhotoDerivativesProcessor
from streams.presence import PresenceProcessor
from streams.safety import SafetyProcessor
from streams.unread import UnreadProcessor

Offsets = dict[tuple[str, int], int]


def groups_of(app_id: str) -> dict[str, tuple[str, ...]]:
    """Every consumer group a worker with ``app_id`` uses, with its topics."""
    groups: dict[str, tuple[str, ...]] = {app_id: PROJECTOR_TOPICS}
    for processor in (FollowRequestsProjector, HashtagExtractor, HashtagCounter, PopularityUpdater, FeedProcessor,
                      CommentsProjector, UnreadProcessor, PresenceProcessor, SafetyProcessor,
                      NotificationsProcessor):
        groups[f"{app_id}.{processor.name}"] = processor.topics
    for extra in (PhotoDerivativesProcessor, AvatarsProcessor, PhotoTagsProcessor, AccountPurgeProcessor):
        groups[f"{app_id}.{extra.name}"] = extra.topics
    return groups


def end_offsets(settings: Settings, topics: Iterable[str]) -> Offsets:
    """Where every partition of ``topics`` (catalog names) ends now in the settings' namespace."""
    consumer = Consumer(client_config(settings, **{"group.id": "photostream-offsets-probe"}))
    try:
        ends: Offsets = {}
        for topic in topics:
            physical = settings.topic_names.physical(topic)
            partitions = list(consumer.list_topics(physical, timeout=10).topics[physical].partitions)
            ends |= {(topic, p): high for p, (_, high) in watermarks(consumer, physical, partitions).items()}
        return ends
    finally:
        consumer.close()


def seed_groups(settings: Settings, groups: dict[str, tuple[str, ...]], offsets: Offsets) -> None:
    """Commit ``offsets`` for each group (for its own topics) before anything consumes with it."""
    admin = AdminClient(client_config(settings, log_level=5))
    physical = settings.topic_names.physical
    for group, topics in groups.items():
        partitions = [TopicPartition(physical(t), p, o) for (t, p), o in offsets.items() if t in topics]
        if partitions:
            admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, partitions)])[group].result()
