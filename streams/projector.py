"""The projectors: views written once per entity (profiles, posts), applied by the batch loop like every processor.

Each event is an absolute upsert stamped with its event time (so the events' order does not matter and a replay
changes nothing): a batch goes to the stores in a few grouped requests (``apply_many``), then the applied-offset
marks move (a post's page read with its ``?after=`` token waits for them).

Why the batch loop and not a faust agent (until stop 48 they were faust agents, in one consumer group named after
the app id): faust's own per-event cost (~75-80 µs here) was most of the projectors' (benchmark 16: posts
7.5-8k events/s, 108 µs of worker CPU per event), and faust acknowledged a buffer only after the agent's loop body,
so one buffer was ever in flight. The loop also brings what the batch processors already had: a record that breaks
the store is isolated (only it goes to the DLQ), a store outage is retried with backoff while the group is served,
a revoked partition is fenced, and the worker's ``/ready`` counts the projectors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, Self

from producers.publisher import Publisher
from sinks import offsets
from sinks.posts import PostSink
from sinks.profiles import ProfileSink
from streams.closed_accounts_acts import post_deletion_of, retract_acts_of_closed_accounts
from streams.engine.records import Record, Reject

#: events per ``apply_many``: a backlog's batch (up to ``BATCH_MAX_EVENTS``) is applied in slices of this many,
#: one after another, so a slice's requests in flight and its read-back stay bounded (200 and 1,000 measured the
#: same in benchmark 16)
SLICE = 1_000


class EventSink(Protocol):
    async def apply_many(self, events: list[tuple[str, dict[str, Any]]]) -> None: ...


class Projector:
    """Applies its topics' events to ``sink``, a slice at a time, then marks them applied."""

    name: str
    topics: tuple[str, ...]
    #: the store a projector of this kind writes (built by :meth:`on`)
    sink_type: Callable[[Any, Any], EventSink]
    #: none: a client reads the post's page (or its profile) right after writing it, and a batch is what arrived
    #: while the last one was applied (README "Live processors do not accumulate")
    flush_interval_s: float = 0.0

    def __init__(self, sink: EventSink, redis: Any) -> None:
        self._sink = sink
        self._redis = redis

    @classmethod
    def on(cls, session: Any, redis: Any) -> Self:
        """This projector writing its own kind of store through ``session`` and ``redis``."""
        return cls(cls.sink_type(session, redis), redis)

    async def process(self, batch: list[Record], reject: Reject) -> None:
        for start in range(0, len(batch), SLICE):
            await self._sink.apply_many([(r.topic, r.value) for r in batch[start:start + SLICE]])
        await self._written(batch)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))

    async def _written(self, batch: list[Record]) -> None:
        """What this projector does once a batch is durable, before its marks move (nothing, by default)."""


class ProfilesProjector(Projector):
    name = "profiles"
    topics: tuple[str, ...] = ("user-registered", "profile-updated")
    sink_type = ProfileSink


class PostsProjector(Projector):
    name = "posts"
    topics: tuple[str, ...] = ("post-created", "post-deleted")
    sink_type = PostSink

    def __init__(self, sink: EventSink, redis: Any, session: Any = None, publisher: Publisher | None = None,
                 publish_timeout_s: float = 10.0) -> None:
        super().__init__(sink, redis)
        #: a post by a deleted account is deleted again through ``publisher`` once written (below)
        self._session, self._publisher, self._publish_timeout_s = session, publisher, publish_timeout_s

    @classmethod
    def publishing(cls, session: Any, redis: Any, publisher: Publisher, publish_timeout_s: float) -> Self:
        """The worker's: its store, and the publisher that deletes a deleted account's late posts."""
        return cls(cls.sink_type(session, redis), redis, session, publisher, publish_timeout_s)

    async def _written(self, batch: list[Record]) -> None:
        """Each post just written whose author's deletion was accepted, deleted (for every processor). The
        purge marks the account, then reads its posts (``posts_by_author``, written here) to delete them; a
        post published as the account was deleted and written after that reading stayed, its caption and
        hashtags counted, by nobody. Asked once written, so this question or the purge's reading finds it."""
        created = [r for r in batch if r.topic == "post-created"]
        if self._publisher is None or not created:
            return
        await retract_acts_of_closed_accounts(created, post_deletion_of, self._redis, self._session,
                                              self._publisher, self._publish_timeout_s)
