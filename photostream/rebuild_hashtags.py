"""Rebuild of every hashtag view from Cassandra: counts, related tags, top posts (scored from
``post_engagement``), trending author buckets and candidates (from membership rows), engagement counts.

The derivation is the same code the counter uses to repair a tag (:class:`sinks.hashtags.derived.TagDeriver`),
so "rebuilt equals live" is a statement about the stream having projected absolute state, not about two
implementations agreeing by luck. Views of tags never counted durably (written by hand, or left by a lost
state) are differences too, and a repair deletes them. Compare while the stream is quiet: a batch landing
mid-comparison shows up as a difference.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from photostream.domain.hashtag_views import differences, readable_buckets
from photostream.domain.scoring import score_weights
from photostream.rebuild import RebuildReport, stores
from photostream.settings import Settings
from sinks import keys
from sinks.engagement import EngagementStore
from sinks.hashtags.derived import TagDeriver
from sinks.hashtags.state import HashtagStateStore
from sinks.hashtags.views import HashtagViews

_CHUNK = 100


async def rebuild_hashtags(settings: Settings, repair: bool) -> RebuildReport:
    report = RebuildReport("hashtags")
    async with stores(settings) as (session, redis):
        state, engagement = HashtagStateStore(session), EngagementStore(session)
        views = HashtagViews(redis, settings.hashtag_top_n, settings.trending_min_authors)
        deriver = TagDeriver(state, engagement, score_weights(settings), settings.hashtag_top_n)
        now_ms = int(time.time() * 1000)
        keys_per_tag = 4 + len(readable_buckets(now_ms))  # count hash, top, related, buckets, candidate entry
        await _recount(engagement, report, repair)
        # what Redis holds first, then what Cassandra holds: a tag's durable write comes before its views, so a
        # tag counted meanwhile is in the second read, never taken for a ghost
        held = await views.tags_held()
        tags = sorted(await state.tags())
        durable = set(tags)
        ghosts = {tag: found for tag, found in sorted(held.items()) if tag not in durable}
        report.keys_compared += len(ghosts)
        report.differences += [f"tag {tag}: views in Redis, never counted durably" for tag in ghosts]
        if repair and ghosts:
            await views.forget(ghosts)
            report.repaired += len(ghosts)
        for i in range(0, len(tags), _CHUNK):
            chunk = tags[i:i + _CHUNK]
            expected = await deriver.views_of(chunk, now_ms)
            live = await views.read(chunk, now_ms)
            report.keys_compared += keys_per_tag * len(chunk)
            stale = []
            for want, have in zip(expected, live, strict=True):
                found = differences(want, have)
                report.differences += found
                if found:
                    stale.append(want)
            if repair and stale:
                await views.replace(stale, now_ms)
                report.repaired += len(stale)
        await _engagement(redis, engagement, views, report, repair)
    return report


async def _recount(store: EngagementStore, report: RebuildReport, repair: bool) -> None:
    """The stored counts against the membership rows (the likes and comments themselves): first, since the tag
    views' scores derive from the counts."""
    stored, counted = await asyncio.gather(store.all_counts(), store.member_counts())
    wrong = {post_id: members for post_id, members in counted.items() if stored.get(post_id, (0, 0)) != members}
    for post_id, members in sorted(wrong.items()):
        report.differences.append(f"post {post_id} counts: stored {stored.get(post_id, (0, 0))}, "
                                  f"its likes and comments {members}")
    if repair:  # each post read again whole, and set only if no save came in between (never older counts)
        repaired = await asyncio.gather(*(store.repair_counts(post_id) for post_id in sorted(wrong)))
        report.repaired += sum(1 for counts in repaired if counts is not None)


async def _engagement(redis: Any, store: EngagementStore, views: HashtagViews, report: RebuildReport,
                      repair: bool) -> None:
    """The engagement hashes against the stored counts: a read-through cache, so a missing one is a miss, not
    a difference."""
    durable = await store.all_counts()
    posts = sorted(durable)
    stale: dict[str, tuple[int, int]] = {}
    for i in range(0, len(posts), 1000):
        chunk = posts[i:i + 1000]
        async with redis.pipeline(transaction=False) as pipe:
            for post_id in chunk:
                pipe.hmget(keys.post_engagement(post_id), "like_count", "comment_count")
            cached = await pipe.execute()
        report.keys_compared += len(chunk)
        for post_id, (likes, comments) in zip(chunk, cached, strict=True):
            if likes is None and comments is None:
                continue
            live = (int(likes or 0), int(comments or 0))
            if live != durable[post_id]:
                report.differences.append(f"post {post_id} engagement: live {live}, durable {durable[post_id]}")
                stale[post_id] = durable[post_id]
    if repair and stale:
        await views.write_engagement(stale)
        report.repaired += len(stale)
