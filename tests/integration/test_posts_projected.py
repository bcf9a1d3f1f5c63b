"""streams.posts_projected on the real Kafka: "the posts projector has applied every post created up to this
moment" is true exactly when its consumer group has committed past each such post's record (a group of this
test's own stands in for the projector's, its commits made by hand)."""

from __future__ import annotations

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from photostream.kafka_config import client_config
from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher
from streams.consumer_groups import end_offsets
from streams.posts_projected import PostsProjected

#: how long a check of a group that is behind may wait (it must answer False, not hang)
BOUND_S = 1.0


def _commit(settings: Settings, group: str, offsets: dict[int, int]) -> None:
    topic = settings.topic_names.physical("post-created")
    admin = AdminClient(client_config(settings))
    partitions = [TopicPartition(topic, p, o) for p, o in offsets.items()]
    admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, partitions)])[group].result()


async def test_a_post_counts_as_projected_once_the_projectors_group_committed_past_its_record(
        settings: Settings, publisher: Publisher) -> None:
    post = events.post_created(author_id=new_id(), caption="not projected yet", image_ids=[new_id()])
    landed = publisher.publish(post)
    ends = {p: end for (_, p), end in end_offsets(settings, ["post-created"]).items()}
    group = f"{settings.app_id}.posts-probe-{new_id()}"
    projected = PostsProjected(settings, group, BOUND_S)
    try:
        at = int(post.value["occurred_at"])
        assert not await projected.through(at)  # a group that never committed has applied nothing

        _commit(settings, group, ends | {landed.partition: landed.offset})  # everything but the post itself
        assert not await projected.through(at)

        _commit(settings, group, {landed.partition: landed.offset + 1})
        assert await projected.through(at)
    finally:
        projected.close()


async def test_posts_stamped_after_the_moment_asked_are_not_waited_for(
        settings: Settings, publisher: Publisher) -> None:
    """A like waits for the posts created before it, not for every post published since: under a backlog, a wait
    for the log's end would hold each batch until the projector drained everything."""
    post = events.post_created(author_id=new_id(), caption="after the moment", image_ids=[new_id()])
    landed = publisher.publish(post)
    ends = {p: end for (_, p), end in end_offsets(settings, ["post-created"]).items()}
    group = f"{settings.app_id}.posts-probe-{new_id()}"
    projected = PostsProjected(settings, group, BOUND_S)
    try:
        _commit(settings, group, ends | {landed.partition: landed.offset})  # everything but the post
        at = int(post.value["occurred_at"])
        assert await projected.through(at - 10 * 60_000)  # a like of ten minutes before: the post came after it
        assert not await projected.through(at)
    finally:
        projected.close()
