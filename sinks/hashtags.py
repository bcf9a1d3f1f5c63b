"""Hashtag stores: the exact tallies in Cassandra (``hashtag_state``) and their hot copy in Redis.

The counter loads each touched tag's state (:meth:`HashtagStore.load`), applies a batch in memory with
:mod:`streams.hashtags.tally`, then :meth:`HashtagStore.save` writes every change of a tag in one
single-partition batch (atomic and isolated in Cassandra) and refreshes Redis with absolute values.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType

from sinks import keys
from sinks.cassandra import execute
from streams.hashtags.tally import TagState, top_related
from streams.hashtags.trending import WINDOWS

_MAX_IN_FLIGHT = 64
_IN_CHUNK = 500


def window_key(start_ms: int) -> str:
    """Window starts as zero-padded text so clustering order is time order."""
    return f"{start_ms:015d}"


class HashtagStore:
    def __init__(self, session: Session, redis: Any) -> None:
        self._session = session
        self._redis = redis
        self._gate = asyncio.Semaphore(_MAX_IN_FLIGHT)
        prepare = session.prepare
        self._q_total = prepare("SELECT post_count FROM hashtag_state WHERE tag = ? LIMIT 1")
        self._q_rows = prepare("SELECT kind, key, present, count FROM hashtag_state "
                               "WHERE tag = ? AND kind IN ('p', 'w', 'r') AND key IN ?")
        self._w_total = prepare("UPDATE hashtag_state SET post_count = ? WHERE tag = ?")
        self._w_member = prepare(
            "INSERT INTO hashtag_state (tag, kind, key, author_id, post_created_at, present) "
            "VALUES (?, 'p', ?, ?, ?, ?)")
        self._w_count = prepare("INSERT INTO hashtag_state (tag, kind, key, count) VALUES (?, ?, ?, ?)")

    async def _run(self, statement: Any, params: Any = None) -> Any:
        async with self._gate:
            return await execute(self._session, statement, params)

    async def load(self, tag: str, post_ids: Iterable[str], windows: Iterable[int],
                   related: Iterable[str]) -> TagState:
        """The membership of ``post_ids`` and the current counts this batch may touch."""
        # Post ids (UUIDs), window keys (digits) and tags (never all digits, no '-') cannot collide, so one
        # IN over all three kinds fetches exactly the rows asked for.
        wanted = [*post_ids, *(window_key(w) for w in windows), *related]
        total, rows = await asyncio.gather(self._run(self._q_total, (tag,)), self._rows_of(tag, wanted))
        row = total.one() if total is not None else None
        state = TagState(tag, post_count=int(row.post_count or 0) if row else 0)
        for r in rows:
            if r.kind == "p":
                state.members[r.key] = bool(r.present)
            elif r.kind == "w":
                state.windows[int(r.key)] = int(r.count or 0)
            else:
                state.related[r.key] = int(r.count or 0)
        return state

    async def _rows_of(self, tag: str, keys_: list[str]) -> list[Any]:
        """Rows by key, in IN-lists of bounded size (reads need not be atomic)."""
        chunks = [keys_[i:i + _IN_CHUNK] for i in range(0, len(keys_), _IN_CHUNK)]
        results = await asyncio.gather(*(self._run(self._q_rows, (tag, chunk)) for chunk in chunks))
        return [row for result in results for row in result]

    async def save(self, state: TagState) -> None:
        """Write everything that changed for the tag atomically (one partition, one batch)."""
        if not state.dirty:
            return
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        batch.add(self._w_total, (state.post_count, state.tag))
        for post_id, row in state.changed_members.items():
            batch.add(self._w_member, (state.tag, post_id, row["author_id"], row["post_created_at"], row["present"]))
        for window in state.changed_windows:
            batch.add(self._w_count, (state.tag, "w", window_key(window), state.windows[window]))
        for other in state.changed_related:
            batch.add(self._w_count, (state.tag, "r", other, state.related[other]))
        await self._run(batch)

    async def refresh_cache(self, states: list[TagState], authors: dict[str, set[tuple[str, int]]],
                            now_ms: int) -> None:
        """Copy absolute values into Redis; add trending author sets (set adds are idempotent)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for state in states:
                tag = state.tag
                pipe.hset(keys.hashtag(tag), mapping={"post_count": state.post_count})
                pipe.expire(keys.hashtag(tag), keys.HASHTAG_TTL_S)
                recent = keys.hashtag_recent(tag)
                added = {p: r["post_created_at"] for p, r in state.changed_members.items() if r["present"]}
                removed = [p for p, r in state.changed_members.items() if not r["present"]]
                if added:
                    pipe.zadd(recent, added)
                    pipe.zremrangebyrank(recent, 0, -keys.HASHTAG_RECENT_MAX - 1)
                if removed:
                    pipe.zrem(recent, *removed)
                    pipe.zrem(keys.hashtag_top(tag), *removed)
                pipe.expire(recent, keys.HASHTAG_TTL_S)
                related = keys.hashtag_related(tag)
                live = {o: state.related[o] for o in state.changed_related if state.related[o] > 0}
                dead = [o for o in state.changed_related if state.related[o] <= 0]
                if live:
                    pipe.zadd(related, live)
                if dead:
                    pipe.zrem(related, *dead)
                pipe.expire(related, keys.HASHTAG_TTL_S)
            by_bucket: dict[str, set[str]] = defaultdict(set)
            for tag, seen in authors.items():
                for author, created_at in seen:
                    for window in WINDOWS.values():
                        bucket = created_at - created_at % window.bucket_ms
                        by_bucket[keys.trend_authors(tag, window.bucket_ms, bucket)].add(author)
            for key, members in by_bucket.items():  # one SADD per bucket set, not per author
                pipe.sadd(key, *members)
                pipe.expire(key, keys.TREND_TTL_S)
            if authors:
                pipe.zadd(keys.trend_active(), dict.fromkeys(authors, now_ms))
            await pipe.execute()

    # --- reads (API) ----------------------------------------------------------------------------------
    async def post_count(self, tag: str) -> int | None:
        """Redis first, Cassandra on a miss (then Redis is filled); None if the tag was never used."""
        cached = await self._redis.hget(keys.hashtag(tag), "post_count")
        if cached is not None:
            return int(cached)
        rows = await self._run(self._q_total, (tag,))
        row = rows.one() if rows is not None else None
        if row is None or row.post_count is None:
            return None
        await self._redis.hset(keys.hashtag(tag), mapping={"post_count": int(row.post_count)})
        await self._redis.expire(keys.hashtag(tag), keys.HASHTAG_TTL_S)
        return int(row.post_count)

    async def related(self, tag: str, n: int = 10) -> list[str]:
        cached = await self._redis.zrevrange(keys.hashtag_related(tag), 0, n - 1)
        if cached:
            return list(cached)
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
                    "SELECT key, present FROM hashtag_state WHERE tag = %s AND kind = 'p' AND key < %s LIMIT %s",
                    (tag, cursor, page)))
            else:
                rows = list(await self._run(
                    "SELECT key, present FROM hashtag_state WHERE tag = %s AND kind = 'p' LIMIT %s", (tag, page)))
            found += [r.key for r in rows if r.present]
            if len(rows) < page:
                break
            cursor = rows[-1].key
        return found[:limit]

