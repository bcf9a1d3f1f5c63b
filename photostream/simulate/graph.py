"""A power-law follow graph: a few accounts most people follow, a long tail almost nobody does.

Pure and deterministic for a seed, so it is unit-tested without a stack. Users are indexes ``0..n-1`` ranked by
popularity: followees are drawn with Zipf weights ``1 / (rank + 1) ** exponent``. The home feed treats authors
with more than ``celebrity_threshold`` followers differently (pulled at read time, not pushed), so the graph
guarantees that the top ``celebrities`` ranks cross that threshold, topping them up from random followers when
the draw alone did not (a small population, a high threshold).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass


class GraphError(ValueError):
    """The requested graph cannot exist (e.g. fewer users than a celebrity needs followers)."""


@dataclass(frozen=True)
class FollowGraph:
    """``edges``: (follower, followee) user indexes, each pair once, never a self-follow."""

    n_users: int
    edges: tuple[tuple[int, int], ...]

    def follower_counts(self) -> list[int]:
        counts = [0] * self.n_users
        for _, followee in self.edges:
            counts[followee] += 1
        return counts

    def above(self, threshold: int) -> list[int]:
        """Users with more than ``threshold`` followers, most followed first."""
        counts = self.follower_counts()
        return sorted((u for u, c in enumerate(counts) if c > threshold), key=lambda u: (-counts[u], u))

    def followers_of(self, user: int) -> list[int]:
        return [follower for follower, followee in self.edges if followee == user]


def zipf_cumulative(n: int, exponent: float) -> list[float]:
    """Cumulative weights of ranks ``0..n-1`` (for ``random.choices``)."""
    return list(itertools.accumulate(1.0 / (rank + 1) ** exponent for rank in range(n)))


def power_law_graph(n_users: int, *, threshold: int, celebrities: int = 3, mean_follows: float = 10.0,
                    exponent: float = 1.0, seed: int = 0) -> FollowGraph:
    """Every user follows about ``mean_follows`` accounts (an exponential spread, at least one) drawn by Zipf
    rank; then ranks ``0..celebrities-1`` are given more than ``threshold`` followers if they lack them (rank 0
    the most, so the celebrities differ in size)."""
    if n_users < 2:
        raise GraphError("a follow graph needs at least 2 users")
    if celebrities and n_users - 1 <= threshold:
        raise GraphError(f"{n_users} users cannot give anyone more than {threshold} followers (the celebrity "
                         f"threshold): use more users (at least {threshold + 2}) or a lower threshold")
    rng = random.Random(seed)
    cumulative = zipf_cumulative(n_users, exponent)
    ranks = range(n_users)
    follows: list[set[int]] = []
    for user in ranks:
        wanted = min(n_users - 1, 1 + int(rng.expovariate(1.0 / max(mean_follows - 1, 0.001))))
        chosen: set[int] = set()
        for _ in range(8):  # popular ranks repeat: a few rounds of draws fill the rest
            for followee in rng.choices(ranks, cum_weights=cumulative, k=wanted - len(chosen)):
                if followee != user:
                    chosen.add(followee)
            if len(chosen) >= wanted:
                break
        follows.append(chosen)
    _top_up_celebrities(follows, threshold, min(celebrities, n_users), rng)
    edges = tuple((follower, followee) for follower, chosen in enumerate(follows) for followee in sorted(chosen))
    return FollowGraph(n_users, edges)


def _top_up_celebrities(follows: list[set[int]], threshold: int, celebrities: int, rng: random.Random) -> None:
    """Give each top rank ``r`` at least ``threshold + 1 + margin`` followers (a margin falling with the rank,
    so that the hysteresis low mark below the threshold is never in play), random users following it."""
    n_users = len(follows)
    counts = [0] * n_users
    for chosen in follows:
        for followee in chosen:
            counts[followee] += 1
    for rank in range(celebrities):
        target = min(n_users - 1, threshold + 1 + max(1, threshold // 10) * (celebrities - rank))
        missing = target - counts[rank]
        if missing <= 0:
            continue
        candidates = [u for u in range(n_users) if u != rank and rank not in follows[u]]
        for follower in rng.sample(candidates, missing):
            follows[follower].add(rank)
        counts[rank] = target
