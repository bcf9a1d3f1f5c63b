"""streams.posts_projected on the real Kafka: "the posts projector has applied every post created up to this
moment" is true exactly when its consumer group has committed past each such post's record (a group of this
test's own stands in for the projector's, its commits made by hand); and the race it closes, staged with the
real processors on the real stack."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from photostream.domain.safety import SafetyChange
from photostream.kafka_config import client_config
from photostream.settings import Settings
from photostream.topics_admin import ensure_topics
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher
from sinks.engagement import EngagementStore
from sinks.safety import SafetyWriter
from streams.consumer_groups import end_offsets, seed_groups
from streams.engine.records import Record
from streams.hashtags.wiring import counter_and_popularity
from streams.posts_projected import PostsProjected
from streams.projector import PostsProjector
from streams.resources import Resources

#: how long a check of a group that is behind may wait (it must answer False, not hang)
BOUND_S = 1.0
#: an offset past the end of any partition
FAR = 1 << 40
#: topics no worker of the run reads (the staged race's post must stay unprojected until the test projects it)
STAGED_NAMESPACE = "postsprojected"


def _not_rejected(record: object, error: Exception) -> None:
    raise AssertionError(f"rejected: {error}")


def _commit(settings: Settings, group: str, partition: int, offset: int) -> None:
    """Commit ``offset`` on ``partition`` for ``group``, and far past the end on every other partition: another
    test session publishing posts meanwhile must not leave the probe behind on partitions this test ignores."""
    topic = settings.topic_names.physical("post-created")
    others = {p for (_, p) in end_offsets(settings, ["post-created"])} - {partition}
    partitions = [TopicPartition(topic, partition, offset), *(TopicPartition(topic, p, FAR) for p in sorted(others))]
    admin = AdminClient(client_config(settings))
    admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, partitions)])[group].result()


def _probe(settings: Settings, publisher: Publisher, caption: str) -> tuple[int, Any, str, PostsProjected]:
    """A post published now: its time, where it landed, and a barrier on a group of the test's own that never
    committed."""
    post = events.post_created(author_id=new_id(), caption=caption, image_ids=[new_id()])
    landed = publisher.publish(post)
    group = f"{settings.app_id}.posts-probe-{new_id()}"
    return int(post.value["occurred_at"]), landed, group, PostsProjected(settings, group, BOUND_S)


async def test_a_post_counts_as_projected_once_the_projectors_group_committed_past_its_record(
        settings: Settings, publisher: Publisher) -> None:
    at, landed, group, projected = _probe(settings, publisher, "not projected yet")
    try:
        assert not await projected.through(at)  # a group that never committed has applied nothing

        _commit(settings, group, landed.partition, landed.offset)  # up to the post, not past it
        assert not await projected.through(at)

        # past it (to where the partition ends now, more than a second after the post: past anything stamped
        # before the moment asked, whoever published it)
        end = end_offsets(settings, ["post-created"])[("post-created", landed.partition)]
        _commit(settings, group, landed.partition, end)
        assert await projected.through(at)
    finally:
        projected.close()


async def test_posts_stamped_after_the_moment_asked_are_not_waited_for(
        settings: Settings, publisher: Publisher) -> None:
    """A like waits for the posts created before it, not for every post published since: under a backlog, a wait
    for the log's end would hold each batch until the projector drained everything."""
    at, landed, group, projected = _probe(settings, publisher, "after the moment")
    try:
        _commit(settings, group, landed.partition, landed.offset)  # up to the post, not past it
        assert await projected.through(at - 10 * 60_000)  # a like of ten minutes before: the post came after it
        assert not await projected.through(at)
    finally:
        projected.close()


async def test_a_like_not_naming_its_author_on_a_post_not_projected_yet_is_refused_across_a_block(
        settings: Settings) -> None:
    """The fault tests' find, staged: a like by an upstream service (no ``post_author_id``) of a post the posts
    projector has not applied yet, and the post's author blocking the liker before it. The block's reading found
    none of the author's posts (not projected), and the like, its post unknown, was counted unchecked: across the
    block for good. Now the popularity processor waits for the post's projection, names the author, and refuses
    the like."""
    own = settings.model_copy(update={"namespace": STAGED_NAMESPACE, "app_id": f"{settings.app_id}-projected"})
    ensure_topics(own)
    group = f"{own.app_id}.posts"
    seed_groups(own, {group: ("post-created",)}, end_offsets(own, ["post-created"]))
    author, pest = new_id(), new_id()
    post = events.post_created(author_id=author, caption="mine", image_ids=[new_id()])
    post_id = str(post.value["post_id"])
    with Publisher(own) as publisher:
        landed = publisher.publish(post)
    resources = Resources.open(own)
    try:
        await SafetyWriter(resources.session).apply([SafetyChange("block", author, pest, True, now_ms())])
        popularity = counter_and_popularity(own, resources.session, resources.redis, resources.publisher,
                                            resources.posts_projected)[1]
        waiting, through = asyncio.Event(), resources.posts_projected.through

        async def noted_through(at_ms: int) -> bool:
            waiting.set()
            return await through(at_ms)

        resources.posts_projected.through = noted_through  # type: ignore[method-assign]
        like = {"event_id": new_id(), "occurred_at": now_ms(), "post_id": post_id, "user_id": pest, "action": "like",
                "post_author_id": None}
        counting = asyncio.create_task(popularity.process([Record("like-changed", 0, 0, post_id.encode(), like)],
                                                          _not_rejected))
        # until the like waits for its post (or, unfixed, was applied already)
        await asyncio.wait([counting, asyncio.create_task(waiting.wait())], return_when=asyncio.FIRST_COMPLETED)
        # the posts loop applies the post, then its group commits (as a worker's would)
        await PostsProjector.on(resources.session, resources.redis).process(
            [Record("post-created", landed.partition, landed.offset, author.encode(), post.value)], _not_rejected)
        _commit(own, group, landed.partition, landed.offset + 1)
        await asyncio.wait_for(counting, 30)
        counts = await EngagementStore(resources.session).counts_of({post_id})
        assert counts.get(post_id, (0, 0)) == (0, 0), "the like across the block was counted"
        assert waiting.is_set()
    finally:
        await resources.close()


def now_ms() -> int:
    return int(time.time() * 1000)
