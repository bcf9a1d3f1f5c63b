"""The hashtag views in Redis, written only as projections of absolute durable state.

Nothing here applies a delta: every write sets a value the durable state implies (a count, a score, a set
membership), so a batch retried after a failure between its Cassandra write and its Redis write — which then
finds its transitions already made — still writes every view it touched, and the views converge.

The top-N sorted set is the one view a projection of *some* members cannot always keep exact: removing a
ranked post or lowering its score may let a post trimmed earlier back in. :data:`_RANK` detects exactly
that case (and a lost or short set) and reports the tag, which the caller then re-derives from its whole
durable state (:meth:`HashtagViews.replace`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from photostream.domain.hashtag_views import (
    ACTIVE_SPAN_MS,
    Member,
    TagView,
    bucket_expiry,
    readable_buckets,
    trend_buckets,
)
from sinks import keys, redis_scripts

#: Applies absolute scores (or removals: empty score) to a tag's top set, trims it to ARGV[1] members, and
#: returns 1 when the set may now miss a post that belongs in it: it holds fewer than min(N, post_count)
#: posts, or a ranked post was removed or lowered while the tag has posts outside the set (or post_count is
#: unknown). Runs atomically next to the tag's count (same hash slot).
_RANK = """
local n = tonumber(ARGV[1])
local shrunk = false
for i = 2, #ARGV, 2 do
  local member, score = ARGV[i], ARGV[i + 1]
  local old = redis.call('ZSCORE', KEYS[1], member)
  if score == '' then
    if old then redis.call('ZREM', KEYS[1], member); shrunk = true end
  else
    if old and tonumber(score) < tonumber(old) then shrunk = true end
    redis.call('ZADD', KEYS[1], score, member)
  end
end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -n - 1)
local count = redis.call('HGET', KEYS[2], 'post_count')
if not count then return 1 end
count = tonumber(count)
local size = redis.call('ZCARD', KEYS[1])
if size < math.min(n, count) then return 1 end
if shrunk and count > size then return 1 end
return 0
"""

#: A ranked entry: post id -> absolute score, or None when the post belongs in no top set (retracted/deleted).
Ranking = Mapping[str, float | None]


class HashtagViews:
    def __init__(self, redis: Any, top_n: int, min_authors: int = 3) -> None:
        self._redis = redis
        self._top_n = top_n
        #: distinct authors within a day that make a tag a trending candidate (``TRENDING_MIN_AUTHORS``)
        self._min_authors = min_authors
        self._rank = redis.register_script(_RANK)

    async def project(self, counts: Mapping[str, int], related: Mapping[str, Mapping[str, int]],
                      ranking: Mapping[str, Ranking], members: Mapping[str, list[Member]], now_ms: int) -> set[str]:
        """Write what the absolute state of the touched part of each tag implies.

        ``counts``: tag -> post_count; ``related``: tag -> every loaded co-tag's count; ``ranking``: tag -> the
        touched posts' scores; ``members``: tag -> touched members (present ones feed trending).
        Returns the tags whose top set must be re-derived from their whole state.
        """
        trend: dict[str, set[str]] = defaultdict(set)
        expiry: dict[str, int] = {}
        active: dict[str, int] = {}
        recent: dict[str, set[str]] = defaultdict(set)
        for tag, touched in members.items():
            for member in touched:
                if not member.present:
                    continue
                for window, start in trend_buckets(member.created_at, now_ms):
                    key = keys.trend_authors(tag, window.bucket_ms, start)
                    trend[key].add(member.author_id)
                    expiry[key] = bucket_expiry(window, start)
                if member.created_at > now_ms - ACTIVE_SPAN_MS:
                    active[tag] = max(active.get(tag, 0), member.created_at)
                    recent[tag].add(member.author_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for tag, count in counts.items():
                pipe.hset(keys.hashtag(tag), mapping={"post_count": count})
            for tag, co_tags in related.items():
                live = {o: c for o, c in co_tags.items() if c > 0}
                dead = [o for o, c in co_tags.items() if c <= 0]
                if live:
                    pipe.zadd(keys.hashtag_related(tag), live)
                if dead:
                    pipe.zrem(keys.hashtag_related(tag), *dead)
            ranked = await self._queue_ranking(pipe, ranking)
            for key, authors in trend.items():  # one SADD per bucket set, not per author
                pipe.sadd(key, *authors)
                pipe.pexpireat(key, expiry[key])
            if active:
                pipe.zadd(keys.trend_active(), active, gt=True)
            pipe.zremrangebyscore(keys.trend_active(), "-inf", now_ms - ACTIVE_SPAN_MS)
            authors_at = {}
            for tag, authors in recent.items():  # (the count comes back in the same round trip)
                pipe.sadd(keys.trend_recent_authors(tag), *authors)
                pipe.pexpire(keys.trend_recent_authors(tag), ACTIVE_SPAN_MS)
                authors_at[tag] = len(pipe.command_stack)
                pipe.scard(keys.trend_recent_authors(tag))
            pipe.zremrangebyscore(keys.trend_eligible(), "-inf", now_ms - ACTIVE_SPAN_MS)
            results = await redis_scripts.execute(pipe)
        eligible = {tag: active[tag] for tag, i in authors_at.items() if int(results[i]) >= self._min_authors}
        if eligible:  # a second round trip only for tags that just qualified or stay qualified
            await self._redis.zadd(keys.trend_eligible(), eligible, gt=True)
        return {tag for tag, i in ranked if results[i]}

    async def rank(self, ranking: Mapping[str, Ranking]) -> set[str]:
        """Apply absolute scores to top sets; returns the tags to re-derive (see :data:`_RANK`)."""
        if not ranking:
            return set()
        async with self._redis.pipeline(transaction=False) as pipe:
            ranked = await self._queue_ranking(pipe, ranking)
            results = await redis_scripts.execute(pipe)
        return {tag for tag, i in ranked if results[i]}

    async def _queue_ranking(self, pipe: Any, ranking: Mapping[str, Ranking]) -> list[tuple[str, int]]:
        """Queue one ranking script per tag; returns (tag, index of its result in the pipeline).

        Queued as a registered script, so the pipeline loads it first where Redis does not know it (a restarted
        or new server) instead of failing with NOSCRIPT forever.
        """
        ranked = []
        for tag, scores in ranking.items():
            args: list[Any] = [self._top_n]
            for post_id, score in scores.items():
                args += [post_id, "" if score is None else repr(score)]
            ranked.append((tag, len(pipe.command_stack)))
            await self._rank(keys=[keys.hashtag_top(tag), keys.hashtag(tag)], args=args, client=pipe)
        return ranked

    async def write_engagement(self, counts: Mapping[str, tuple[int, int]]) -> None:
        """Each post's absolute counts (a read-through cache: Cassandra answers when one has expired)."""
        if not counts:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for post_id, (likes, comments) in counts.items():
                key = keys.post_engagement(post_id)
                pipe.hset(key, mapping={"like_count": likes, "comment_count": comments})
                pipe.expire(key, keys.ENGAGEMENT_CACHE_TTL_S)
            await pipe.execute()

    async def replace(self, views: list[TagView], now_ms: int) -> None:
        """Overwrite every view of these tags with ones derived from their whole durable state."""
        buckets = readable_buckets(now_ms)
        async with self._redis.pipeline(transaction=False) as pipe:
            for view in views:
                tag = view.tag
                pipe.hset(keys.hashtag(tag), mapping={"post_count": view.post_count})
                pipe.delete(keys.hashtag_top(tag), keys.hashtag_related(tag))
                if view.top:
                    pipe.zadd(keys.hashtag_top(tag), view.top)
                if view.related:
                    pipe.zadd(keys.hashtag_related(tag), view.related)
                for window, start in buckets:
                    key = keys.trend_authors(tag, window.bucket_ms, start)
                    pipe.delete(key)
                    authors = view.trend.get((window.bucket_ms, start))
                    if authors:
                        pipe.sadd(key, *authors)
                        pipe.pexpireat(key, bucket_expiry(window, start))
                if view.active is not None:
                    pipe.zadd(keys.trend_active(), {tag: view.active})
                else:
                    pipe.zrem(keys.trend_active(), tag)
                # the candidates' index, from the same buckets (a day's distinct authors)
                authors = set().union(*view.trend.values()) if view.trend else set()
                pipe.delete(keys.trend_recent_authors(tag))
                if authors and view.active is not None:
                    pipe.sadd(keys.trend_recent_authors(tag), *authors)
                    pipe.pexpire(keys.trend_recent_authors(tag), ACTIVE_SPAN_MS)
                if view.active is not None and len(authors) >= self._min_authors:
                    pipe.zadd(keys.trend_eligible(), {tag: view.active})
                else:
                    pipe.zrem(keys.trend_eligible(), tag)
            await pipe.execute()

    async def tags_held(self) -> dict[str, set[str]]:
        """Every tag Redis holds a view of, with its keys found (a SCAN of the per-tag keys; a tag only in the
        trending indexes has none)."""
        found: dict[str, set[str]] = {}
        for pattern in keys.tag_key_patterns():
            async for key in self._redis.scan_iter(match=pattern, count=1000):
                tag = keys.tag_of_key(key)
                if tag is not None:
                    found.setdefault(tag, set()).add(key)
        for index in (keys.trend_active(), keys.trend_eligible()):
            for tag in await self._redis.zrange(index, 0, -1):
                found.setdefault(tag, set())
        return found

    async def forget(self, held: dict[str, set[str]]) -> None:
        """Every view of these tags gone, whatever its bucket (tags Redis holds that were never counted
        durably; ``held``: :meth:`tags_held`'s answer for them)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for tag, found in held.items():
                pipe.delete(keys.hashtag(tag), keys.hashtag_top(tag), keys.hashtag_related(tag),
                            keys.trend_recent_authors(tag), *found)
                pipe.zrem(keys.trend_active(), tag)
                pipe.zrem(keys.trend_eligible(), tag)
            await pipe.execute()

    async def replace_top(self, views: list[TagView]) -> None:
        """Overwrite only the top sets of these tags (what a ranking change can leave short)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for view in views:
                pipe.delete(keys.hashtag_top(view.tag))
                if view.top:
                    pipe.zadd(keys.hashtag_top(view.tag), view.top)
            await pipe.execute()

    async def read(self, tags: list[str], now_ms: int) -> list[TagView]:
        """The live views of these tags, in the shape :func:`~photostream.domain.hashtag_views.derive` gives."""
        buckets = readable_buckets(now_ms)
        async with self._redis.pipeline(transaction=False) as pipe:
            for tag in tags:
                pipe.hget(keys.hashtag(tag), "post_count")
                pipe.zrange(keys.hashtag_top(tag), 0, -1, withscores=True)
                pipe.zrange(keys.hashtag_related(tag), 0, -1, withscores=True)
                pipe.zscore(keys.trend_active(), tag)
                for window, start in buckets:
                    pipe.smembers(keys.trend_authors(tag, window.bucket_ms, start))
            results = await pipe.execute()
        views, step = [], 4 + len(buckets)
        for i, tag in enumerate(tags):
            count, top, related, active, *sets = results[i * step:(i + 1) * step]
            views.append(TagView(
                tag, int(count) if count is not None else -1, {m: int(s) for m, s in related},
                {m: float(s) for m, s in top},
                {(w.bucket_ms, start): set(s) for (w, start), s in zip(buckets, sets, strict=True) if s},
                int(active) if active is not None and active > now_ms - ACTIVE_SPAN_MS else None))
        return views
