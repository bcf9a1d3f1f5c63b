"""Re-rank the posts whose engagement moved while their scores were being written into a top set.

Two processors write a post's score in a tag's top set: the counter (when the post joins or leaves the tag, or
a repair re-derives the tag) and popularity (when its likes or comments change). Each writes a score computed
from counts it read a moment earlier, and popularity saves the new counts to Cassandra *before* it writes its
score. So a writer that re-reads the counts after its own write and finds them unchanged knows any later save
is followed by popularity's own write; when they moved, its score may have landed over a fresher one, and it
writes again with the counts it just read — and checks again, until a re-read agrees with what it wrote.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from photostream.domain.scoring import ScoreWeights, popularity
from sinks.engagement import EngagementStore
from sinks.hashtags.derived import TagDeriver
from sinks.hashtags.views import HashtagViews

log = logging.getLogger(__name__)

#: re-checks before giving up (each needs another engagement change to land inside a few milliseconds)
_ROUNDS = 8


class RankSettler:
    def __init__(self, engagement: EngagementStore, views: HashtagViews, deriver: TagDeriver,
                 weights: ScoreWeights) -> None:
        self._engagement = engagement
        self._views = views
        self._deriver = deriver
        self._weights = weights

    async def replace_top(self, tags: set[str]) -> None:
        """Re-derive these tags' top sets from durable state, then settle them."""
        derived = await self._deriver.derivation(tags, int(time.time() * 1000))
        await self._views.replace_top(derived.views)
        await self.settle(derived.counts, derived.scored)

    async def replace(self, tags: set[str], now_ms: int) -> None:
        """Re-derive every view of these tags from durable state, then settle their top sets."""
        derived = await self._deriver.derivation(tags, now_ms)
        await self._views.replace(derived.views, now_ms)
        await self.settle(derived.counts, derived.scored)

    async def settle(self, counts: Mapping[str, tuple[int, int]], scored: Mapping[str, Mapping[str, int]]) -> None:
        """``counts``: post id -> the counts its written score came from; ``scored``: tag -> {post id: created_at}."""
        written = dict(counts)
        for _ in range(_ROUNDS):
            fresh = await self._engagement.counts_of(set(written))
            moved = {p: fresh.get(p, (0, 0)) for p, c in written.items() if fresh.get(p, (0, 0)) != c}
            if not moved:
                return
            ranking = {tag: {p: popularity(*moved[p], created_at, self._weights)
                             for p, created_at in posts.items() if p in moved}
                       for tag, posts in scored.items()}
            repair = await self._views.rank({tag: r for tag, r in ranking.items() if r})
            if repair:  # a lowered score may let a trimmed post back in: re-derive those tags whole
                derived = await self._deriver.derivation(repair, int(time.time() * 1000))
                await self._views.replace_top(derived.views)
                moved.update(derived.counts)
                scored = {**scored, **derived.scored}
            written = moved
        log.warning("top sets of %d posts still moving after %d re-checks; the next engagement change re-ranks them",
                    len(written), _ROUNDS)
