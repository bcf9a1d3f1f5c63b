"""Which posts have people tags: a Redis set that lets a page skip the ``photo_tags`` read for untagged posts.

Why: every hydrated page (feed, grid, post) read ``photo_tags`` for all its posts, one multi-partition query,
though almost no post has a tag. Measured (`python -m benchmarks --only feeds`): without that read a feed page
went from 232 to 301/s and from 4.4 to 3.8 ms of API CPU.

Exact by construction: the set is a *superset* of the posts that have a tag row. The photo_tags processor adds
a post after every durable tag write (an add, an approval or a removal alike; a removal never takes the post
out: the set only grows, a stale member costs one read that finds nothing), before its offsets move, so a crash
replays the add. A page reads Cassandra only for its posts in the set. The set counts only once it holds a
marker member, written by :func:`rebuild` after adding every post with a tag row (a scan of ``photo_tags``'s
partition keys): a writer racing the scan adds its post itself, so nothing is missed, and a set lost while the
scan ran is not marked (:mod:`sinks.built_sets`). Without the marker (a new deployment, Redis lost the set)
readers read every post's tags, as before, and the API rebuilds the set in the background
(:class:`sinks.photo_tags.PhotoTagReads`). Redis down: readers read Cassandra.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from cassandra.cluster import Session

from sinks import built_sets, keys
from sinks.cassandra import pages

#: the member that says the set is complete (a post id is a UUID: no clash)
BUILT = "\x00built"
_CHUNK = 1_000


class TaggedPosts:
    def __init__(self, redis: Any, reads: Any = None) -> None:
        self._redis = redis
        self._reads = reads if reads is not None else redis  # see sinks.redis_batching

    async def add(self, post_ids: Iterable[str]) -> None:
        """After a durable tag write on these posts (whether the set is built or not)."""
        wanted = sorted(set(post_ids))
        if wanted:
            await self._redis.sadd(keys.photo_tagged_posts(), *wanted)

    async def among(self, post_ids: Iterable[str]) -> set[str] | None:
        """Which of ``post_ids`` may have tags; None if the set is not built (every post may). Raises when
        Redis is down (the caller reads Cassandra)."""
        wanted = list(dict.fromkeys(post_ids))
        found = await self._reads.smismember(keys.photo_tagged_posts(), [BUILT, *wanted])
        if not found[0]:
            return None
        return {post_id for post_id, member in zip(wanted, found[1:], strict=True) if member}

    async def live(self) -> tuple[set[str], bool]:
        """Every post in the set, and whether it is built (for `photostream rebuild photo-tags`)."""
        members = set(await self._redis.smembers(keys.photo_tagged_posts()))
        return {m for m in members if not built_sets.is_marker(m)}, BUILT in members

    async def rebuild(self, session: Session) -> int:
        """Add every post with a tag row, then the marker; returns the number of posts found. Raises
        :class:`sinks.built_sets.SetLostError` when the set was lost while it ran (the set is left without a marker)."""
        key = keys.photo_tagged_posts()
        fence = await built_sets.begin(self._redis, key)
        count = 0
        async for ids in durable_pages(session):
            await self._redis.sadd(key, *ids)
            count += len(ids)
        await built_sets.finish(self._redis, key, fence, BUILT)
        return count


async def durable_pages(session: Session) -> AsyncIterator[list[str]]:
    """The ids of every post with a tag row (``photo_tags``'s partition keys), a page at a time."""
    statement = session.prepare("SELECT DISTINCT post_id FROM photo_tags")
    async for page in pages(session, statement, (), _CHUNK):
        if page:
            yield [row.post_id for row in page]
