"""Rebuild of every hashtag view from Cassandra: counts, related tags, top posts (scored from
``post_engagement``), trending author buckets and candidates (from membership rows), engagement counts.

The derivation is the same code the counter uses to repair a tag (:class:`sinks.hashtags.derived.TagDeriver`),
so "rebuilt equals live" is a statement about the stream having projected absolute state, not about two
implementations agreeing by luck. Views of tags never counted durably (written by hand, or left by a lost
state) are differences too, and a repair deletes them. The stream may go on meanwhile: what differs is compared
again before it is reported (:func:`photostream.rebuild.persisting`), so only a view that stays stale is.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from photostream.domain.hashtag_views import TagView, differences, readable_buckets
from photostream.domain.scoring import score_weights
from photostream.rebuild import RebuildReport, persisting, stores
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

        async def compared(chunk: list[str]) -> dict[str, tuple[TagView, list[str]]]:
            """The tags of ``chunk`` whose live views differ from the derived ones: (derived, how they differ)."""
            expected = await deriver.views_of(chunk, now_ms)
            live = await views.read(chunk, now_ms)
            return {want.tag: (want, found) for want, have in zip(expected, live, strict=True)
                    if (found := differences(want, have))}

        for i in range(0, len(tags), _CHUNK):
            chunk = tags[i:i + _CHUNK]
            report.keys_compared += keys_per_tag * len(chunk)
            stale = await persisting(await compared(chunk), compared)
            for _, found in stale.values():
                report.differences += found
            if repair and stale:
                await views.replace([want for want, _ in stale.values()], now_ms)
                report.repaired += len(stale)
        await _engagement(redis, engagement, views, report, repair)
    return report


async def _recount(store: EngagementStore, report: RebuildReport, repair: bool) -> None:
    """The stored counts against the membership rows (the likes and comments themselves): first, since the tag
    views' scores derive from the counts."""
    stored, counted = await asyncio.gather(store.all_counts(), store.member_counts())
    wrong = await persisting({post_id: (stored.get(post_id, (0, 0)), members) for post_id, members in counted.items()
                              if stored.get(post_id, (0, 0)) != members}, store.contradicted_counts)
    for post_id, (kept, members) in sorted(wrong.items()):
        report.differences.append(f"post {post_id} counts: stored {kept}, its likes and comments {members}")
    if repair:  # each post read again whole, and set only if no save came in between (never older counts)
        repaired = await asyncio.gather(*(store.repair_counts(post_id) for post_id in sorted(wrong)))
        report.repaired += sum(1 for counts in repaired if counts is not None)


async def _engagement(redis: Any, store: EngagementStore, views: HashtagViews, report: RebuildReport,
                      repair: bool) -> None:
    """The engagement hashes against the stored counts: a read-through cache, so a missing one is a miss, not
    a difference."""
    durable = await store.all_counts()
    posts = sorted(durable)
    differing: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}
    for i in range(0, len(posts), 1000):
        chunk = posts[i:i + 1000]
        report.keys_compared += len(chunk)
        differing.update(_cached_against(chunk, await _cached(redis, chunk), durable))

    async def compared(post_ids: list[str]) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
        cached = await _cached(redis, post_ids)  # (Redis first: a processor writes it after Cassandra)
        return _cached_against(post_ids, cached, await store.counts_of(set(post_ids)))

    stale = await persisting(differing, compared)
    for post_id, (live, counts) in stale.items():
        report.differences.append(f"post {post_id} engagement: live {live}, durable {counts}")
    if repair and stale:
        await views.write_engagement({post_id: counts for post_id, (_, counts) in stale.items()})
        report.repaired += len(stale)


async def _cached(redis: Any, post_ids: list[str]) -> list[list[str | None]]:
    """The engagement hashes' (likes, comments) of ``post_ids``, in one pipeline."""
    async with redis.pipeline(transaction=False) as pipe:
        for post_id in post_ids:
            pipe.hmget(keys.post_engagement(post_id), "like_count", "comment_count")
        return list(await pipe.execute())


def _cached_against(post_ids: list[str], cached: list[list[str | None]], durable: dict[str, tuple[int, int]]
                    ) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
    """(live, durable) counts of the posts whose cached counts differ from the stored ones (no hash: a miss)."""
    found = {}
    for post_id, (likes, comments) in zip(post_ids, cached, strict=True):
        if likes is None and comments is None:
            continue
        live, counts = (int(likes or 0), int(comments or 0)), durable.get(post_id, (0, 0))
        if live != counts:
            found[post_id] = (live, counts)
    return found
