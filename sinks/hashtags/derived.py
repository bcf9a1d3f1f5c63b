"""A tag's views derived from its whole durable state: for repairs and for `photostream rebuild hashtags`."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from photostream.domain.hashtag_views import Member, TagView, derive
from photostream.domain.scoring import ScoreWeights
from sinks.engagement import EngagementStore
from sinks.hashtags.state import HashtagStateStore

#: tags derived at once (each is a paged partition read plus engagement IN queries)
_CONCURRENCY = 8


@dataclass
class Derivation:
    """Derived views and what their top sets were scored from, so a writer can check the counts did not move."""
    views: list[TagView] = field(default_factory=list)
    #: post id -> the (likes, comments) its score was computed from
    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: tag -> {post id: created_at} of every present member that was scored
    scored: dict[str, dict[str, int]] = field(default_factory=dict)


class TagDeriver:
    def __init__(self, state: HashtagStateStore, engagement: EngagementStore, weights: ScoreWeights,
                 top_n: int) -> None:
        self._state = state
        self._engagement = engagement
        self._weights = weights
        self._top_n = top_n
        self._gate = asyncio.Semaphore(_CONCURRENCY)

    async def _inputs_of(self, tag: str) -> tuple[int, list[Member], dict[str, int], dict[str, tuple[int, int]]]:
        async with self._gate:
            post_count, members, related = await self._state.snapshot(tag)
            counts = await self._engagement.counts_of({m.post_id for m in members if m.present})
        return post_count, members, related, counts

    async def derivation(self, tags: set[str] | list[str], now_ms: int) -> Derivation:
        """The tags' views together with the engagement counts they were scored from."""
        found = Derivation()
        ordered = sorted(tags)
        for tag, (post_count, members, related, counts) in zip(
                ordered, await asyncio.gather(*(self._inputs_of(tag) for tag in ordered)), strict=True):
            found.views.append(derive(tag, post_count, members, related, counts, self._weights, self._top_n, now_ms))
            present = {m.post_id: m.created_at for m in members if m.present}
            found.scored[tag] = present
            found.counts.update((post_id, counts.get(post_id, (0, 0))) for post_id in present)
        return found

    async def views_of(self, tags: set[str] | list[str], now_ms: int) -> list[TagView]:
        return (await self.derivation(tags, now_ms)).views
