"""A worker's consumer groups, and starting them at chosen offsets.

Used to start a new app id at the log end (tests and benchmarks, which share topics with everyone on the
stack) or at a recorded position (a replay from a point in time). Groups must have no live members.
"""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient

from photostream.kafka_config import client_config
from photostream.settings import Settings
from photostream.topic_ranges import watermarks
from streams.account_purge import AccountPurgeProcessor
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
from streams.projector import PostsProjector, ProfilesProjector
from streams.safety import SafetyProcessor
from streams.unread import UnreadProcessor

Offsets = dict[tuple[str, int], int]


def groups_of(app_id: str) -> dict[str, tuple[str, ...]]:
    """Every consumer group a worker with ``app_id`` uses, with its topics."""
    groups: dict[str, tuple[str, ...]] = {}
    for processor in (ProfilesProjector, PostsProjector,
                      FollowRequestsProjector, HashtagExtractor, HashtagCounter, PopularityUpdater, FeedProcessor,
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


def adopt_faust_projector_positions(settings: Settings, timeout_s: float = 10.0) -> list[str]:
    """Start the projectors' groups where faust left off, once: the upgrade from a worker whose projectors were
    faust agents in one group named after the app id (until stop 48). Without it, their new groups
    (``APP_ID.profiles``, ``APP_ID.posts``) would start from the log's beginning: every post and profile ever
    written applied again (harmless, the upserts are idempotent, but hours on a large log).

    A projector group that exists is left as it is. Once nothing is left to adopt, faust's group is deleted:
    otherwise its lag grows forever in ``photostream lag`` (refused while an old worker is still a member; the
    next start tries again). Returns what it did, one line each. Stop old workers before starting new ones: an
    old worker still running keeps applying (idempotently) beside the new one until then."""
    admin = AdminClient(client_config(settings, log_level=5))
    legacy = settings.app_id
    present = {g.group_id for g in admin.list_consumer_groups(request_timeout=timeout_s).result().valid}
    if legacy not in present:
        return []
    positions = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(legacy)],
                                                  request_timeout=timeout_s)[legacy].result().topic_partitions or []
    done = []
    for projector in (ProfilesProjector, PostsProjector):
        group = f"{legacy}.{projector.name}"
        topics = set(settings.topic_names.physicals(projector.topics))
        partitions = [TopicPartition(tp.topic, tp.partition, tp.offset) for tp in positions
                      if tp.topic in topics and tp.offset >= 0]
        if group in present or not partitions:
            continue
        admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, partitions)],
                                           request_timeout=timeout_s)[group].result()
        done.append(f"{group}: starts where faust's group {legacy} left off ({len(partitions)} partitions)")
    try:
        admin.delete_consumer_groups([legacy], request_timeout=timeout_s)[legacy].result()
        done.append(f"{legacy}: faust's group deleted (the projectors have groups of their own)")
    except KafkaException as exc:  # e.g. an old worker is still a member
        done.append(f"{legacy}: faust's group kept for now ({exc.args[0].str() if exc.args else exc})")
    return done
