"""What a tag's Redis views hold, derived from its absolute durable state (pure).

Every hashtag view is a function of the tag's membership rows, related counts and the engagement of its
posts — never of a batch's changes — so the live writer, a retried batch and ``photostream rebuild hashtags``
all compute the same thing:

- ``post_count``: the static total;
- ``related``: co-occurring tags with a positive count;
- ``top``: the ``top_n`` present posts by :func:`~photostream.domain.scoring.popularity` (ties as Redis
  orders them: by member, so the trimmed set is the same whoever computes it);
- ``trend``: per trending bucket, the distinct authors of present posts created in it, for every bucket a
  reader may still look at (see :func:`bucket_expiry`);
- ``active``: the newest present post's creation time, if a trending reader may still look at it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from photostream.domain.scoring import ScoreWeights, popularity
from photostream.domain.trending import WINDOWS, TrendWindow
from photostream.domain.windows import tumbling_start

#: The longest recent window a trending read covers: tags inactive for longer are no candidates.
ACTIVE_SPAN_MS = max(w.span_ms for w in WINDOWS.values())


@dataclass(frozen=True)
class Member:
    post_id: str
    author_id: str
    created_at: int
    present: bool


@dataclass
class TagView:
    tag: str
    post_count: int = 0
    related: dict[str, int] = field(default_factory=dict)
    top: dict[str, float] = field(default_factory=dict)
    trend: dict[tuple[int, int], set[str]] = field(default_factory=dict)  # (bucket_ms, start) -> authors
    active: int | None = None


def bucket_expiry(window: TrendWindow, bucket_start: int) -> int:
    """When no reader can look at a bucket any more: after the recent window and the baseline span behind
    it have both moved past it. An absolute time, so a replay never extends a bucket's life."""
    return bucket_start + window.span_ms + window.baseline_span_ms


def trend_buckets(created_at: int, now_ms: int) -> list[tuple[TrendWindow, int]]:
    """The buckets (of every trending window) a post created at ``created_at`` counts in, if still readable."""
    found = []
    for window in WINDOWS.values():
        start = tumbling_start(created_at, window.bucket_ms)
        if bucket_expiry(window, start) > now_ms:
            found.append((window, start))
    return found


def readable_buckets(now_ms: int) -> list[tuple[TrendWindow, int]]:
    """Every bucket a trending read at ``now_ms`` (or later) may still look at."""
    found = []
    for window in WINDOWS.values():
        newest = tumbling_start(now_ms, window.bucket_ms)
        count = (window.span_ms + window.baseline_span_ms) // window.bucket_ms
        found += [(window, newest - i * window.bucket_ms) for i in range(count + 1)
                  if bucket_expiry(window, newest - i * window.bucket_ms) > now_ms]
    return found


def top_posts(scores: Mapping[str, float], top_n: int) -> dict[str, float]:
    """The ``top_n`` highest scores; among equal scores the greater member wins (Redis' order)."""
    ranked = sorted(scores.items(), key=lambda kv: (kv[1], kv[0]))
    return dict(ranked[-top_n:]) if top_n > 0 else {}


def derive(tag: str, post_count: int, members: Iterable[Member], related: Mapping[str, int],
           engagement: Mapping[str, tuple[int, int]], weights: ScoreWeights, top_n: int, now_ms: int) -> TagView:
    """A tag's views from its absolute state; ``engagement``: post id -> (likes, comments), absent = none."""
    present = [m for m in members if m.present]
    scores = {m.post_id: popularity(*engagement.get(m.post_id, (0, 0)), m.created_at, weights) for m in present}
    trend: dict[tuple[int, int], set[str]] = defaultdict(set)
    for member in present:
        for window, start in trend_buckets(member.created_at, now_ms):
            trend[(window.bucket_ms, start)].add(member.author_id)
    newest = max((m.created_at for m in present), default=None)
    return TagView(tag, post_count, {o: c for o, c in related.items() if c > 0}, top_posts(scores, top_n),
                   dict(trend), newest if newest is not None and newest > now_ms - ACTIVE_SPAN_MS else None)


def differences(expected: TagView, live: TagView) -> list[str]:
    """Where the live view departs from the one derived from durable state (empty: equal)."""
    tag, found = expected.tag, []
    if live.post_count != expected.post_count:
        found.append(f"#{tag} post_count: live {live.post_count if live.post_count >= 0 else 'missing'}, "
                     f"durable {expected.post_count}")
    if live.related != expected.related:
        found.append(f"#{tag} related: live {sorted(live.related.items())}, durable {sorted(expected.related.items())}")
    if live.top.keys() != expected.top.keys() or any(
            abs(live.top[p] - s) > 1e-9 * max(1.0, abs(s)) for p, s in expected.top.items()):
        found.append(f"#{tag} top: live {sorted(live.top.items())}, durable {sorted(expected.top.items())}")
    for bucket in sorted(expected.trend.keys() | live.trend.keys()):
        if live.trend.get(bucket, set()) != expected.trend.get(bucket, set()):
            found.append(f"#{tag} trend bucket {bucket}: live {sorted(live.trend.get(bucket, ()))}, "
                         f"durable {sorted(expected.trend.get(bucket, ()))}")
    if live.active != expected.active:
        found.append(f"#{tag} trending candidate: live {live.active}, durable {expected.active}")
    return found
