"""Rebuild of the home feeds from durable state: every built feed, and every celebrity pull set.

A live feed is a newest-first prefix of what durable state derives (the newest ``feed_cap`` pushed posts of
the followees and the user's own): deletes and unfollows only ever remove entries, which the next rebuild or
read fills from older history. So "equal" means: the live feed is exactly the first ``len(live)`` entries of
the derived one. Feeds that are not built are not compared (a read builds them from the same derivation).
Compare while the stream is quiet: a batch landing mid-comparison shows up as a difference.
"""

from __future__ import annotations

from photostream.rebuild import RebuildReport, stores
from photostream.settings import Settings
from sinks.feeds import FeedCache, FeedPosts, expected_pull_set, merged_feed
from sinks.graph import GraphReader
from sinks.safety import SafetyReader


def is_live_prefix(live: list[str], derived: list[str]) -> bool:
    return derived[:len(live)] == live


async def rebuild_feeds(settings: Settings, repair: bool) -> RebuildReport:
    report = RebuildReport("feeds")
    async with stores(settings) as (session, redis):
        graph, posts, safety = GraphReader(session), FeedPosts(session), SafetyReader(session)
        cache = FeedCache.for_settings(redis, settings)
        async for user_id in cache.built_feed_owners():
            live = await cache.built_ids(user_id)
            if live is None:
                continue
            derived = await merged_feed(graph, posts, user_id, settings.feed_cap, None, True, safety)
            report.keys_compared += 1
            if not is_live_prefix(live, derived):
                report.differences.append(f"feed of {user_id}: live {live[:5]}…, durable {derived[:5]}…")
                if repair:
                    await cache.build(user_id, derived)
                    report.repaired += 1
        celebrities: list[str] = []
        async for authors in posts.authors():
            for author_id in authors:
                derived = expected_pull_set(await posts.newest(author_id, settings.feed_cap))
                live = await cache.pull_ids(author_id)
                if derived:
                    celebrities.append(author_id)
                if not derived and live is None:
                    continue
                report.keys_compared += 1
                if live is None or not is_live_prefix(live, derived):
                    report.differences.append(f"pull set of {author_id}: live {(live or [])[:5]}…, "
                                              f"durable {derived[:5]}…")
                    if repair:
                        await cache.replace_pull(author_id, derived)
                        report.repaired += 1
        known = await cache.celebrities()
        report.keys_compared += 1
        if known is None or not set(celebrities) <= set(known):
            report.differences.append(f"celebrity set: {'not built' if known is None else 'incomplete'} "
                                      f"({len(celebrities)} authors with pull sets)")
            if repair:
                await cache.mark_celebrities_built(celebrities)
                report.repaired += 1
    return report
