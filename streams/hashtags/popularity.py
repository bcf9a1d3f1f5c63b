"""Popularity: like-changed / comment-added → exact engagement counts → each tag's top-N posts."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from photostream.domain.engagement import Engagement
from photostream.domain.scoring import popularity, score_weights
from photostream.settings import Settings
from sinks import keys
from sinks.engagement import EngagementStore
from streams.engine.records import Record, Reject


class PopularityUpdater:
    name: str = "popularity"
    topics: tuple[str, ...] = ("like-changed", "comment-added")

    def __init__(self, settings: Settings, store: EngagementStore, redis: Any) -> None:
        self._store = store
        self.flush_interval_s = float(settings.hashtag_window_s)
        self._redis = redis
        self._weights = score_weights(settings)
        self._top_n = settings.hashtag_top_n

    async def _apply_post(self, post_id: str, records: list[Record]) -> Engagement:
        state = await self._store.load(
            post_id,
            users={r.value["user_id"] for r in records if r.topic == "like-changed"},
            comment_ids={r.value["comment_id"] for r in records if r.topic == "comment-added"},
        )
        for record in records:
            state.apply(record.topic, record.value)
        await self._store.save(state)
        return state

    async def process(self, batch: list[Record], reject: Reject) -> None:
        by_post: dict[str, list[Record]] = defaultdict(list)
        for record in batch:
            by_post[record.value["post_id"]].append(record)
        states = [s for s in await asyncio.gather(*(self._apply_post(p, rs) for p, rs in by_post.items()))
                  if s.dirty]
        tags = await asyncio.gather(*(self._store.tags_of(s.post_id) for s in states))
        async with self._redis.pipeline(transaction=False) as pipe:
            for state, tagged in zip(states, tags, strict=True):
                key = keys.post_engagement(state.post_id)
                pipe.hset(key, mapping={"like_count": state.like_count, "comment_count": state.comment_count})
                pipe.expire(key, keys.HASHTAG_TTL_S)
                if tagged is None:
                    continue
                post_tags, created_at = tagged
                score = popularity(state.like_count, state.comment_count, created_at, self._weights)
                for tag in post_tags:
                    pipe.zadd(keys.hashtag_top(tag), {state.post_id: score})
                    pipe.zremrangebyrank(keys.hashtag_top(tag), 0, -self._top_n - 1)
            await pipe.execute()
