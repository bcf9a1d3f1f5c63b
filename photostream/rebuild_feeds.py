"""Rebuild of the home feeds from durable state: every built feed, and every celebrity pull set.

A live feed is a newest-first prefix of what durable state derives (the newest ``feed_cap`` pushed posts of
the followees and the user's own): deletes and unfollows only ever remove entries, which the next rebuild or
read fills from older history. So "equal" means: the live feed's entries, down to where the derivation is
exact (its end if the derivation is the whole history, else its last id), are the derivation's first ones.
Feeds that are not built are not compared (a read builds them from the same derivation). The stream may go on
meanwhile: a feed or pull set that differs is compared again (up to :data:`photostream.rebuild.CONFIRMING_READS`
times) before it is reported, so a post landing between the two reads is not taken for a stale feed.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from photostream.rebuild import RebuildReport, last_comparison, stores
from photostream.settings import Settings
from sinks.feeds import (
    FeedCache,
    FeedPosts,
    build_settled,
    expected_pull_set,
    is_whole_history,
    merged_feed,
)
from sinks.graph import GraphReader
from sinks.safety import SafetyReader


def is_live_prefix(live: list[str], derived: list[str], complete: bool, live_cut: bool = True,
                   floor: str | None = None) -> bool:
    """Whether ``live`` agrees with ``derived``; ``complete``: the derivation holds the whole history (so the
    live list may hold nothing past it), else it is exact only down to ``floor`` (where some author's read
    stopped) or, without one, its last id (it stopped at the cap). A live list keeps up to an eighth past the
    cap before it is cut back. ``live_cut``: readers take the live list as cut and page on into Cassandra below
    it; a list they take as whole must hold exactly what the derivation proves exists above where it is exact
    (a prefix is not enough: what it lacks is unreachable), and may hold anything below that."""
    if live_cut:
        seen = live if complete else live[:len(derived)]
        return derived[:len(seen)] == seen
    if complete:
        return live == derived
    if floor is None:  # stopped at the cap: the history goes on below, where a whole list could not reach
        return False
    return [post_id for post_id in live if post_id >= floor] == derived


async def rebuild_feeds(settings: Settings, repair: bool) -> RebuildReport:
    report = RebuildReport("feeds")
    async with stores(settings) as (session, redis):
        graph, posts, safety = GraphReader(session), FeedPosts(session), SafetyReader(session)
        cache = FeedCache.for_settings(redis, settings)
        async for user_id in cache.built_feed_owners():

            async def feed_compared(user_id: str = user_id) -> tuple[bool, list[str], Any] | None:
                found = await cache.built_list(user_id)
                if found is None:
                    return None
                live, live_cut = found
                feed = await merged_feed(graph, posts, user_id, settings.feed_cap, None, True, safety)
                whole = is_whole_history(feed.post_ids, feed.floor, settings.feed_cap)
                return is_live_prefix(live, feed.post_ids, whole, live_cut, feed.floor), live, feed

            compared = await last_comparison(feed_compared, lambda found: found is None or found[0])
            if compared is None:
                continue
            report.keys_compared += 1
            agrees, live, feed = compared
            if not agrees:
                report.differences.append(f"feed of {user_id}: live {live[:5]}…, durable {feed.post_ids[:5]}…")
                if repair:
                    await build_settled(cache, user_id, partial(merged_feed, graph, posts, user_id,
                                                                settings.feed_cap, None, True, safety), feed)
                    report.repaired += 1
        # (a repair marks the celebrity set only if Redis kept it during the walk: sinks.built_sets)
        fence = await cache.fence_celebrities() if repair else None
        celebrities: list[str] = []
        async for authors in posts.authors():
            for author_id in authors:

                async def pull_compared(author_id: str = author_id) -> tuple[bool, Any, Any]:
                    pull = await cache.pull_ids(author_id)  # (live first: the projector writes it second)
                    derived = await expected_pull_set(posts, author_id, settings.feed_cap)
                    whole = is_whole_history(derived.post_ids, derived.floor, settings.feed_cap)
                    agrees = (pull is None and not (derived.post_ids or derived.cut)) or (
                        pull is not None and is_live_prefix(pull[0], derived.post_ids, whole, pull[1], derived.floor))
                    return agrees, pull, derived

                agrees, pull, derived = await last_comparison(pull_compared, lambda found: found[0])
                if derived.post_ids or derived.cut:
                    celebrities.append(author_id)
                elif pull is None:
                    continue
                report.keys_compared += 1
                if not agrees:
                    report.differences.append(f"pull set of {author_id}: live {(pull or ([], True))[0][:5]}…, "
                                              f"durable {derived.post_ids[:5]}…")
                    if repair:
                        await cache.replace_pull(author_id, derived.post_ids, derived.cut)
                        report.repaired += 1
        known = await cache.celebrities()
        report.keys_compared += 1
        if known is None or not set(celebrities) <= set(known):
            report.differences.append(f"celebrity set: {'not built' if known is None else 'incomplete'} "
                                      f"({len(celebrities)} authors with pull sets)")
            if repair:
                report.repaired += 1
        if fence is not None:  # (marked whatever the comparison found: the fence leaves the set either way)
            await cache.mark_celebrities_built(celebrities, fence)
    return report
