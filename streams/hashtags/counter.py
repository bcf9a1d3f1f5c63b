"""The hashtag counter: post-hashtag → exact tallies, windows, related tags, recency and trending data.

Per batch: group events by tag, load each tag's relevant state, apply the events as set transitions
(:mod:`streams.hashtags.tally`), write each tag's changes in one atomic single-partition batch, then refresh
Redis with absolute values. Offsets are committed by the loop only after this returns.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

from photostream.settings import Settings
from sinks import keys
from sinks.hashtags import HashtagStore
from streams.engine.records import Record, Reject
from streams.hashtags.scoring import ScoreWeights, popularity
from streams.hashtags.tally import TagState, apply
from streams.hashtags.windows import tumbling_start


def score_weights(settings: Settings) -> ScoreWeights:
    return ScoreWeights(settings.popularity_like_weight, settings.popularity_comment_weight,
                        settings.popularity_tau_hours * 3600)


class HashtagCounter:
    name: str = "hashtag-counter"
    topics: tuple[str, ...] = ("post-hashtag",)

    def __init__(self, settings: Settings, store: HashtagStore, redis: Any) -> None:
        self._window_ms = settings.hashtag_window_s * 1000
        self.flush_interval_s = float(settings.hashtag_window_s)
        self._top_n = settings.hashtag_top_n
        self._weights = score_weights(settings)
        self._store = store
        self._redis = redis

    async def _apply_tag(self, tag: str, events: list[dict[str, Any]]) -> TagState:
        state = await self._store.load(
            tag,
            post_ids={e["post_id"] for e in events},
            windows={tumbling_start(int(e["post_created_at"]), self._window_ms) for e in events},
            related={o for e in events for o in e.get("post_tags", ()) if o != tag},
        )
        for event in events:
            apply(state, event, self._window_ms)
        await self._store.save(state)
        return state

    async def process(self, batch: list[Record], reject: Reject) -> None:
        by_tag: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for record in batch:
            by_tag[record.value["hashtag"]].append(record.value)
        states = await asyncio.gather(*(self._apply_tag(tag, events) for tag, events in by_tag.items()))
        authors = {tag: {(e["author_id"], int(e["post_created_at"])) for e in events if e["action"] == "add"}
                   for tag, events in by_tag.items()}
        await self._store.refresh_cache(list(states), {t: a for t, a in authors.items() if a},
                                        int(time.time() * 1000))
        await self._rank_new_members(list(states))

    async def _rank_new_members(self, states: list[TagState]) -> None:
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
