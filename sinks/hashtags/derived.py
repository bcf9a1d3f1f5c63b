"""A tag's views derived from its whole durable state: for repairs and for `photostream rebuild hashtags`."""

from __future__ import annotations

import asyncio

from photostream.domain.hashtag_views import TagView, derive
from photostream.domain.scoring import ScoreWeights
from sinks.engagement import EngagementStore
from sinks.hashtags.state import HashtagStateStore

#: tags derived at once (each is a paged partition read plus engagement IN queries)
_CONCURRENCY = 8


class TagDeriver:
    def __init__(self, state: HashtagStateStore, engagement: EngagementStore, weights: ScoreWeights,
                 top_n: int) -> None:
        self._state = state
        self._engagement = engagement
        self._weights = weights
        self._top_n = top_n
        self._gate = asyncio.Semaphore(_CONCURRENCY)

    async def view_of(self, tag: str, now_ms: int) -> TagView:
        async with self._gate:
            post_count, members, related = await self._state.snapshot(tag)
            counts = await self._engagement.counts_of({m.post_id for m in members if m.present})
        return derive(tag, post_count, members, related, counts, self._weights, self._top_n, now_ms)

    async def views_of(self, tags: set[str] | list[str], now_ms: int) -> list[TagView]:
        return list(await asyncio.gather(*(self.view_of(tag, now_ms) for tag in sorted(tags))))
