"""Trending, read side: candidates and their distinct-author counts from Redis, ranked by the pure rule."""

from __future__ import annotations

import json
from typing import Any

from photostream.domain.trending import WINDOWS, Trend, rank
from photostream.domain.windows import bucket_starts
from sinks import keys

#: How long a computed trending list is reused (it is recomputed at most this often).
CACHE_S = 5
MAX_CANDIDATES = 500


async def trending(redis: Any, window_name: str, now_ms: int, min_authors: int, limit: int = 100) -> list[Trend]:
    cached = await redis.get(keys.trending_cache(window_name))
    if cached:
        return [Trend(**t) for t in json.loads(cached)]
    window = WINDOWS[window_name]
    # the candidates: tags with enough distinct authors within a day, newest first (by newest post alone, one
    # account posting hundreds of one-off tags pushed every real tag out of the first MAX_CANDIDATES)
    candidates = await redis.zrevrangebyscore(keys.trend_eligible(), "+inf", now_ms - window.span_ms,
                                              start=0, num=MAX_CANDIDATES)
    recent = bucket_starts(now_ms, window.span_ms, window.bucket_ms)
    older_end = recent[-1]  # the baseline is the span just before the window
    baseline = bucket_starts(older_end - 1, window.baseline_span_ms, window.bucket_ms)
    async with redis.pipeline(transaction=False) as pipe:
        for tag in candidates:
            pipe.sunion([keys.trend_authors(tag, window.bucket_ms, b) for b in recent])
            pipe.sunion([keys.trend_authors(tag, window.bucket_ms, b) for b in baseline])
        unions = await pipe.execute()
    counts = {tag: (len(unions[2 * i]), len(unions[2 * i + 1])) for i, tag in enumerate(candidates)}
    result = rank(counts, window, min_authors, limit)
    await redis.set(keys.trending_cache(window_name), json.dumps([t.__dict__ for t in result]), ex=CACHE_S)
    return result
