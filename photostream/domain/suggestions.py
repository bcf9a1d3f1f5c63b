"""Whom to suggest following ("Suggested for you"): accounts followed by the people the user follows, and people
who follow the user unanswered, ranked by how many of those reasons they have. Pure: the reads are the route's
(api/routes/suggestions.py)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Suggestion:
    user_id: str
    #: the people the user follows who follow this account (all of those read)
    mutuals: tuple[str, ...]
    follows_you: bool

    @property
    def score(self) -> int:
        """One per mutual, one for following the user: a person two friends follow outranks a stranger who
        followed you."""
        return len(self.mutuals) + (1 if self.follows_you else 0)


def rank(user: str, followed_by_followees: Mapping[str, Iterable[str]], followers: Iterable[str],
         excluded: set[str], limit: int) -> list[Suggestion]:
    """The best ``limit`` suggestions: ``followed_by_followees`` maps each followee read to whom they follow;
    ``followers``: people who follow the user; ``excluded``: accounts never suggested (followed already,
    requested, in a block with the user). Ranked by score, then mutuals, then id (stable)."""
    mutuals: dict[str, list[str]] = defaultdict(list)
    for followee, theirs in followed_by_followees.items():
        for candidate in theirs:
            mutuals[candidate].append(followee)
    following_me = set(followers)
    candidates = (set(mutuals) | following_me) - excluded - {user}
    found = [Suggestion(c, tuple(sorted(mutuals.get(c, ()))), c in following_me) for c in candidates]
    found.sort(key=lambda s: (-s.score, -len(s.mutuals), s.user_id))
    return found[:limit]
