"""Trending (pure): a tag trends when its distinct authors in the recent window beat its own baseline.

count     = distinct authors using the tag in the window (hopping: the last N buckets)
baseline  = distinct authors over the preceding baseline span, scaled to one window
velocity  = count / max(baseline, 1)

Counting authors, not posts, means one account posting a tag a thousand times counts once; a tag also needs
at least ``min_authors`` distinct authors to be listed at all.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrendWindow:
    name: str
    span_ms: int  # the recent window
    bucket_ms: int  # hop size and set granularity
    baseline_span_ms: int  # history the baseline is taken from (just before the window)


WINDOWS = {
    "1h": TrendWindow("1h", 3_600_000, 300_000, 24 * 3_600_000),
    "24h": TrendWindow("24h", 24 * 3_600_000, 3_600_000, 7 * 24 * 3_600_000),
}


@dataclass(frozen=True)
class Trend:
    tag: str
    count: int
    velocity: float


def velocity(count: int, baseline_authors: int, window: TrendWindow) -> float:
    baseline = baseline_authors * window.span_ms / window.baseline_span_ms
    return round(count / max(baseline, 1.0), 3)


def rank(candidates: dict[str, tuple[int, int]], window: TrendWindow, min_authors: int, limit: int) -> list[Trend]:
    """``candidates``: tag -> (distinct authors in window, distinct authors in baseline span)."""
    trends = [Trend(tag, count, velocity(count, base, window))
              for tag, (count, base) in candidates.items() if count >= min_authors]
    trends.sort(key=lambda t: (-t.velocity, -t.count, t.tag))
    return trends[:limit]
