"""The API's hashtag read repository: Redis first, the durable tallies in Cassandra behind it."""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra.cluster import Session

from photostream.domain.tally import top_related
from sinks import keys
from sinks.cassandra import Gated, key_chunks
from sinks.redis_bulk import hmget_many


class HashtagReads:
    def __init__(self, session: Session, redis: Any) -> None:
        self._session = session
        self._redis = redis
        self._run = Gated(session).run
        self._q_total = session.prepare("SELECT post_count FROM hashtag_state WHERE tag = ? LIMIT 1")
        self._q_totals = session.prepare(
            "SELECT tag, post_count FROM hashtag_state WHERE tag IN ? PER PARTITION LIMIT 1")

    async def post_count(self, tag: str) -> int | None:
        """Redis first, Cassandra on a miss (then Redis is filled); None if the tag was never used."""
        cached = await self._redis.hget(keys.hashtag(tag), "post_count")
        if cached is not None:
            return int(cached)
        rows = await self._run(self._q_total, (tag,))
        row = rows.one() if rows is not None else None
        if row is None or row.post_count is None:
            return None
        # NX: if the counter wrote a newer count meanwhile, this older read must not overwrite it
        await self._redis.hsetnx(keys.hashtag(tag), "post_count", int(row.post_count))
        return int(row.post_count)

    async def post_counts(self, tags: list[str]) -> dict[str, int]:
        """:meth:`post_count` of many tags: one Redis command, one Cassandra read per 100 misses (not filled
        back: a search's candidates are mostly cold tags, and a copy each would fill Redis with them). Tags never
        used are absent."""
        if not tags:
            return {}
        cached = await hmget_many(self._redis, [keys.hashtag(tag) for tag in tags], ("post_count",))
        counts = {tag: int(found[0]) for tag, found in zip(tags, cached, strict=True) if found[0] is not None}
        missed = [tag for tag in tags if tag not in counts]
        found = await asyncio.gather(*(self._run(self._q_totals, (chunk,)) for chunk in key_chunks(missed)))
        return counts | {row.tag: int(row.post_count) for rows in found for row in rows if row.post_count is not None}

    async def related(self, tag: str, n: int = 10) -> list[str]:
        """The ``n`` tags co-occurring most, ties broken as Cassandra's answer breaks them (alphabetically:
        Redis alone answered ties in reverse, so the related tags changed order, and at a tie on the last place
        which tags were shown, whenever the copy was lost and read back)."""
        key = keys.hashtag_related(tag)
        cached = await self._redis.zrevrange(key, 0, n - 1, withscores=True)
        if cached:
            if len(cached) == n:  # everything tied with the last place, so that the tie is broken the same way
                cached = await self._redis.zrevrangebyscore(key, "+inf", cached[-1][1], withscores=True)
            return top_related({member: int(score) for member, score in cached}, n)
        rows = await self._run("SELECT key, count FROM hashtag_state WHERE tag = %s AND kind = 'r'", (tag,))
        return top_related({r.key: int(r.count or 0) for r in rows}, n)

    async def newest_posts(self, tag: str, limit: int, before: str | None) -> list[str]:
        """Post ids carrying the tag, newest first (ids are UUIDv7, so id order is time order)."""
        found: list[str] = []
        cursor = before
        page = max(limit * 2, 20)
        while len(found) < limit:
            if cursor:
                rows = list(await self._run(
                    "SELECT key, present, hidden FROM hashtag_state WHERE tag = %s AND kind = 'p' AND key < %s "
                    "LIMIT %s",
                    (tag, cursor, page)))
            else:
                rows = list(await self._run(
                    "SELECT key, present, hidden FROM hashtag_state WHERE tag = %s AND kind = 'p' LIMIT %s",
                    (tag, page)))
            found += [r.key for r in rows if r.present and not r.hidden]  # hidden: a private account's post
            if len(rows) < page:
                break
            cursor = rows[-1].key
        return found[:limit]
