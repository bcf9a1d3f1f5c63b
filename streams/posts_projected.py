"""Wait until the posts projector has applied every post created before a moment.

Why: a like or a comment that does not name its post's author (an upstream service's v1 event) is checked
against blocks only once the posts view names the author (:func:`streams.engagement_blocks.name_post_authors`).
Read while the posts projector was still behind, the post was unknown and the like applied unchecked; a block
whose reading of the author's posts also came before the projection found nothing to end, and the like stayed
across the block for good (the fault tests' oracle found one counted, on a busy machine). The post was published
before the like, so once the projector has applied everything ``post-created`` held up to the like's time, the
view names the author, or the post does not exist.

How: the broker says where each partition of ``post-created`` stood at that time (``offsets_for_times``), and
the posts projector's consumer group, asked for its committed offsets (never joined), says how far it got.
Bounded: past ``timeout_s`` (the projector stopped, or far behind) the caller goes on as before.
"""

from __future__ import annotations

import asyncio
import logging
import time

from confluent_kafka import Consumer, TopicPartition

from photostream.kafka_config import client_config
from photostream.settings import Settings
from photostream.topic_ranges import watermarks

log = logging.getLogger(__name__)

#: how much later than the moment asked a post's record may be stamped (producers' and the broker's clocks)
CLOCK_SKEW_MS = 1_000
#: how often the projector's committed offsets are asked again while it is behind
_POLL_S = 0.05
_TOPIC = "post-created"


class PostsProjected:
    """``await through(at_ms)``: True once the posts projector has applied every post created up to ``at_ms``;
    False past the bound. One Kafka client per worker process, made on first use (most batches never ask)."""

    def __init__(self, settings: Settings, group: str, timeout_s: float) -> None:
        self._settings = settings
        self._group = group
        self._topic = settings.topic_names.physical(_TOPIC)
        self._timeout_s = timeout_s
        self._consumer: Consumer | None = None
        self._lock = asyncio.Lock()  # (a Kafka client serves one call at a time)

    @classmethod
    def of_app(cls, settings: Settings, timeout_s: float) -> PostsProjected:
        """For the posts projector of the settings' app id (its group: ``{app_id}.posts``)."""
        return cls(settings, f"{settings.app_id}.posts", timeout_s)

    async def through(self, at_ms: int) -> bool:
        async with self._lock:
            deadline = time.monotonic() + self._timeout_s
            targets = await asyncio.to_thread(self._targets, at_ms)
            while True:
                if not await asyncio.to_thread(self._behind, targets):
                    return True
                if time.monotonic() >= deadline:
                    log.warning("the posts projector (%s) has not applied the posts created before %d within %.0f s: "
                                "likes and comments not naming their post's author go unchecked against blocks",
                                self._group, at_ms, self._timeout_s)
                    return False
                await asyncio.sleep(_POLL_S)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def _client(self) -> Consumer:
        if self._consumer is None:
            # the projector's group id, to read its commits; never subscribed, so it never joins the group
            self._consumer = Consumer(client_config(self._settings, **{
                "group.id": self._group, "enable.auto.commit": False}))
        return self._consumer

    def _targets(self, at_ms: int) -> dict[int, int]:
        """Per partition, the offset of its first record stamped after ``at_ms`` (plus the skew), or its end."""
        consumer, timeout = self._client(), float(self._settings.kafka_admin_timeout_s)
        partitions = sorted(consumer.list_topics(self._topic, timeout=timeout).topics[self._topic].partitions)
        found = consumer.offsets_for_times([TopicPartition(self._topic, p, at_ms + CLOCK_SKEW_MS)
                                            for p in partitions], timeout=timeout)
        targets = {tp.partition: tp.offset for tp in found if tp.offset >= 0}
        missing = [p for p in partitions if p not in targets]  # nothing stamped after it: the whole partition
        if missing:
            targets |= {p: high for p, (_, high) in watermarks(consumer, self._topic, missing, timeout).items()}
        return targets

    def _behind(self, targets: dict[int, int]) -> bool:
        """Whether the group has not committed up to each target (a group that never committed is behind)."""
        wanted = [TopicPartition(self._topic, p) for p, offset in targets.items() if offset > 0]
        if not wanted:
            return False
        committed = self._client().committed(wanted, timeout=float(self._settings.kafka_admin_timeout_s))
        return any(tp.offset < targets[tp.partition] for tp in committed)
