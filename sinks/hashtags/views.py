"""The hashtag views in Redis, projected from the durable tallies (:mod:`sinks.hashtags.state`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from photostream.domain.scoring import ScoreWeights, popularity
from photostream.domain.tally import TagState
from photostream.domain.trending import WINDOWS
from sinks import keys


class HashtagViews:
    def __init__(self, redis: Any, weights: ScoreWeights, top_n: int) -> None:
        self._redis = redis
        self._weights = weights
        self._top_n = top_n

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


    async def rank_new_members(self, states: list[TagState]) -> None:
        """Newly tagged posts enter their tag's top-N with the score of no engagement yet.

        ``ZADD NX`` never lowers a score the popularity updater already wrote (it ranks a post in all of its
        tags as soon as it is liked or commented), so no engagement read is needed here.
        """
        async with self._redis.pipeline(transaction=False) as pipe:
            for state in states:
                fresh = {post_id: popularity(0, 0, row["post_created_at"], self._weights)
                         for post_id, row in state.changed_members.items() if row["present"]}
                if not fresh:
                    continue
                key = keys.hashtag_top(state.tag)
                pipe.zadd(key, fresh, nx=True)
                pipe.zremrangebyrank(key, 0, -self._top_n - 1)
                pipe.expire(key, keys.HASHTAG_TTL_S)
            await pipe.execute()
