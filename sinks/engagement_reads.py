"""Bulk reads of per-post engagement for the API: counts and "liked by me" for a whole page at once.

The counts' truth is ``post_engagement`` in Cassandra (static ``like_count``/``comment_count``, written by the
popularity processor as absolute values); Redis holds a copy (``keys.post_engagement``) that the processor
refreshes on every change and that expires. A page reads Redis in one pipeline and only the posts Redis misses
from Cassandra in one multi-partition query, so a count never reads as 0 because a cache entry expired.

Misses are put back with ``HSETNX``: if the processor wrote a newer value meanwhile, the field exists and the
older value read here is dropped; if the processor writes after us, it overwrites. So a fill can never leave
an older count behind a newer one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session

from sinks import cache_aside, keys
from sinks.cassandra import execute, rows_if_few
from sinks.partition_cache import LIKES, PartitionCache
from sinks.redis_bulk import hmget_many

#: posts per multi-partition query (a feed page is at most 100)
IN_CHUNK = 100
_FIELDS = ("like_count", "comment_count")


@dataclass(frozen=True)
class Counts:
    like_count: int = 0
    comment_count: int = 0


class EngagementReads:
    def __init__(self, session: Session, redis: Any, reads: Any = None) -> None:
        self._session = session
        self._redis = redis
        #: where the page's reads go (the API's batching client, :mod:`sinks.redis_batching`); fills use redis
        self._reads = reads if reads is not None else redis
        self._q_counts = session.prepare(
            "SELECT post_id, like_count, comment_count FROM post_engagement WHERE post_id IN ? "
            "PER PARTITION LIMIT 1")
        self._q_liked = session.prepare(
            "SELECT post_id, liked FROM post_engagement WHERE post_id IN ? AND kind = 'l' AND key = ?")
        self._q_likes_of = session.prepare("SELECT post_id FROM likes_by_user WHERE user_id = ? LIMIT ?")
        self._q_likers = session.prepare(
            "SELECT key, liked FROM post_engagement WHERE post_id = ? AND kind = 'l' AND key > ? LIMIT ?")
        self._liked_copies = PartitionCache(redis, LIKES, reads)

    async def counts(self, post_ids: list[str]) -> dict[str, Counts]:
        """Like and comment counts of every post in ``post_ids`` (0 only for a post nobody engaged with)."""
        wanted = list(dict.fromkeys(post_ids))
        if not wanted:
            return {}
        try:
            cached = await hmget_many(self._reads, [keys.post_engagement(p) for p in wanted], _FIELDS)
        except cache_aside.REDIS_DOWN as exc:  # Redis down: every count from Cassandra, no fill
            cache_aside.missed("engagement", exc)
            return await self._durable_counts(wanted)
        found: dict[str, Counts] = {}
        missing: list[str] = []
        for post_id, (likes, comments) in zip(wanted, cached, strict=True):
            if likes is None or comments is None:
                missing.append(post_id)
            else:
                found[post_id] = Counts(int(likes), int(comments))
        if missing:
            durable = await self._durable_counts(missing)
            found.update(durable)
            await self._fill(durable)
        return found

    async def _durable_counts(self, post_ids: list[str]) -> dict[str, Counts]:
        counts = dict.fromkeys(post_ids, Counts())
        for start in range(0, len(post_ids), IN_CHUNK):
            rows = await execute(self._session, self._q_counts, (post_ids[start:start + IN_CHUNK],))
            for row in rows.current_rows:
                counts[row.post_id] = Counts(int(row.like_count or 0), int(row.comment_count or 0))
        return counts

    async def _fill(self, counts: dict[str, Counts]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for post_id, c in counts.items():
                key = keys.post_engagement(post_id)
                pipe.hsetnx(key, "like_count", c.like_count)
                pipe.hsetnx(key, "comment_count", c.comment_count)
                pipe.expire(key, keys.ENGAGEMENT_CACHE_TTL_S, nx=True)
            await pipe.execute()

    async def liked_by(self, user_id: str, post_ids: list[str]) -> set[str]:
        """Which of ``post_ids`` ``user_id`` likes now: from the Redis copy of the user's ``likes_by_user``
        partition (:mod:`sinks.partition_cache`, kept by the popularity processor), else one query (per 100
        posts) over the posts' membership rows."""
        wanted = list(dict.fromkeys(post_ids))
        if not wanted:
            return set()

        async def whole() -> dict[str, str] | None:
            rows = await rows_if_few(self._session, self._q_likes_of, (user_id,))
            return None if rows is None else {row.post_id: "1" for row in rows}

        copied = await self._liked_copies.rows_of(user_id, wanted, whole)
        if copied is not None:
            return set(copied)
        liked: set[str] = set()
        for start in range(0, len(wanted), IN_CHUNK):
            rows = await execute(self._session, self._q_liked, (wanted[start:start + IN_CHUNK], user_id))
            liked.update(row.post_id for row in rows.current_rows if row.liked)
        return liked

    async def likers(self, post_id: str, after: str, limit: int) -> tuple[list[str], str | None]:
        """Up to ``limit`` users who like the post now, in id order after ``after`` (``""``: from the start), and
        the last id read (None at the end). An unlike leaves its membership row (``liked = false``, the time it
        resolves by), so a slice can hold fewer likers than rows: up to three slices are read per page, and the
        position is the last row read, liker or not, so nothing is skipped or repeated."""
        found: list[str] = []
        position = after
        for _ in range(3):
            rows = list((await execute(self._session, self._q_likers, (post_id, position, limit))).current_rows)
            for row in rows:
                position = row.key
                if row.liked:
                    found.append(row.key)
                    if len(found) == limit:
                        return found, position
            if len(rows) < limit:
                return found, None
        return found, position
