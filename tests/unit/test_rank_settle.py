"""A top-set score computed from counts that moved before it landed is re-written with the fresh counts.

The race replayed deterministically: the counter scores a post from zero likes, popularity saves three likes
and writes its score, then the counter's stale score lands over it. The settler re-reads and repairs it.
"""

import asyncio
from collections.abc import Mapping
from typing import Any, cast

from photostream.domain.scoring import ScoreWeights, popularity
from sinks.hashtags.settle import RankSettler

W = ScoreWeights()
AT = 1_700_000_000_000


class MovingEngagement:
    """Counts that change the first ``after`` times they are read (a concurrent popularity save)."""

    def __init__(self, counts: dict[str, tuple[int, int]], updates: list[dict[str, tuple[int, int]]]) -> None:
        self.counts, self._updates, self.reads = counts, updates, 0

    async def counts_of(self, post_ids: set[str]) -> dict[str, tuple[int, int]]:
        self.reads += 1
        if self._updates:
            self.counts.update(self._updates.pop(0))
        return {p: c for p, c in self.counts.items() if p in post_ids}


class TopSets:
    def __init__(self) -> None:
        self.top: dict[str, dict[str, float]] = {}

    async def rank(self, ranking: Mapping[str, Mapping[str, float | None]]) -> set[str]:
        for tag, scores in ranking.items():
            for post_id, score in scores.items():
                assert score is not None
                self.top.setdefault(tag, {})[post_id] = score
        return set()


def settler(engagement: MovingEngagement, views: TopSets) -> RankSettler:
    return RankSettler(cast(Any, engagement), cast(Any, views), cast(Any, None), W)


def test_a_score_overtaken_by_a_concurrent_save_is_rewritten_until_a_re_read_agrees():
    # written from (0, 0); meanwhile likes reach 3, then 5 before the first repair lands
    engagement, views = MovingEngagement({}, [{"p1": (3, 0)}, {"p1": (5, 0)}]), TopSets()
    views.top["t"] = {"p1": popularity(0, 0, AT, W), "p2": popularity(0, 0, AT, W)}
    asyncio.run(settler(engagement, views).settle({"p1": (0, 0), "p2": (0, 0)}, {"t": {"p1": AT, "p2": AT}}))
    assert views.top["t"] == {"p1": popularity(5, 0, AT, W), "p2": popularity(0, 0, AT, W)}
    assert engagement.reads == 3  # moved, moved again, then agreed


def test_counts_that_did_not_move_cost_one_read_and_no_write():
    engagement, views = MovingEngagement({"p1": (2, 1)}, []), TopSets()
    asyncio.run(settler(engagement, views).settle({"p1": (2, 1)}, {"t": {"p1": AT}}))
    assert views.top == {} and engagement.reads == 1
