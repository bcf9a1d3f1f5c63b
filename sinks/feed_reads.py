"""Reading a home feed: the Redis feed merged with followed celebrities' pull sets, Cassandra behind it.

- Built feed: the newest ids of the user's feed and of each followed celebrity's pull set (one pipeline),
  merged newest first. A source that is cut (marked so, full to the cap, or a page as long as asked) is exact
  only down to its last entry: the merged page is kept down to the newest such entry, and continues from
  Cassandra behind it, so nothing a followee ever posted is out of reach or skipped. A page read from
  Cassandra whose read stopped at a floor (:meth:`sinks.feeds.FeedPosts.newest_matching`) may come out short
  and still carry a cursor (:attr:`FeedPage.more_below`).
- Missing feed (never built, expired after ``feed_ttl_s`` unread) or Redis down: the page is answered from
  Cassandra at once (a pull-merge of the followees' recent posts), and, Redis permitting, the feed is rebuilt
  in the background for the next read.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Literal

from redis.exceptions import RedisError

from photostream.domain.feeds import merge_newest
from sinks.feeds import FeedCache, FeedPosts, MergedFeed, PullAuthors, build_settled, merged_feed, rebuild_pull_sets
from sinks.graph import GraphReader
from sinks.safety import SafetyReader

log = logging.getLogger(__name__)
#: the key of the one pull-set rebuild an API process runs at a time (user ids are UUIDs: no clash)
PULL_SETS = "pull sets"

Reason = Literal["followed", "celebrity", "history"]


#: sorts above every post id (lowercase hex UUIDs): a cut that keeps nothing of a page
ABOVE_EVERY_ID = "~"


@dataclass
class FeedPage:
    post_ids: list[str]
    #: why each post is on the page: pushed into the feed, merged from a celebrity, or read from Cassandra
    reasons: dict[str, Reason] = field(default_factory=dict)
    source: Literal["redis", "cassandra"] = "redis"
    #: where the next page starts when this one came out short of the limit but history goes on below it
    #: (a read of durable state stopped at a floor); None: a short page is the end
    more_below: str | None = None

    def next_before(self, limit: int) -> str | None:
        """The cursor of the next page, if there is one."""
        if len(self.post_ids) == limit:
            return self.post_ids[-1]
        return self.more_below


def vouched_down_to(sources: list[tuple[list[str], bool]], before: str | None, limit: int) -> str | None:
    """The oldest id down to which every source of a page (its ids below ``before``, and whether it is full to
    the cap) is exact; None if all are exact to their ends. A source full to the cap, or whose page is as long
    as asked, is exact only down to its last entry; a full one with nothing below ``before`` is exact only
    above the cursor, so it vouches for nothing on this page (ignoring it would let the page skip, down to the
    other sources' entries, the posts only Cassandra holds: a page after the first lost them)."""
    floors = []
    for found, full in sources:
        if found and (full or len(found) == limit):
            floors.append(found[-1])
        elif full:  # cut, with nothing of it on this page: it vouches for nothing below the cursor
            floors.append(before or ABOVE_EVERY_ID)
    return max(floors, default=None)


class FeedReader:
    def __init__(self, graph: GraphReader, posts: FeedPosts, cache: FeedCache, cap: int,
                 safety: SafetyReader | None = None) -> None:
        self._graph = graph
        self._safety = safety
        self._posts = posts
        self._cache = cache
        self._cap = cap
        self._rebuilding: dict[str, asyncio.Task[None]] = {}

    async def page(self, user_id: str, before: str | None, limit: int) -> FeedPage:
        try:
            built, pull = await self._cache.page_and_pull_authors(user_id, before, limit)
            followed = await self._followed_pull_authors(user_id, pull) if built is not None else None
        except RedisError as exc:
            log.warning("feed of %s read from Cassandra: Redis unavailable (%s)", user_id, exc)
            return await self._from_cassandra(user_id, before, limit)
        if built is None:
            if before is None:
                self._rebuild_soon(user_id)
            return await self._from_cassandra(user_id, before, limit)
        feed_ids, truncated = built
        if followed is None:  # Redis lost which authors are pulled: durable state answers until it is rebuilt
            self._rebuild_pull_sets_soon()
            return await self._from_cassandra(user_id, before, limit)
        # a full page of the reader's own feed: no pull post below its last id can make this page
        floor = feed_ids[-1] if len(feed_ids) >= limit else None
        pages = await self._pull_pages_shown(user_id, followed, before, limit, floor) if followed else []
        if any(found is None for found in pages):  # a followed celebrity's pull set is not built
            self._rebuild_pull_sets_soon()
            return await self._from_cassandra(user_id, before, limit)
        sources = [(feed_ids, truncated), *(found for found in pages if found is not None)]
        ids = merge_newest([found for found, _ in sources], limit)
        # below the last entry of a cut source, that source may lack posts: keep only what every source vouches for
        cut = vouched_down_to(sources, before, limit)
        if cut is not None:
            ids = [p for p in ids if p >= cut]
        reasons: dict[str, Reason] = dict.fromkeys(feed_ids, "followed")
        reasons.update({p: "celebrity" for found, _ in sources[1:] for p in found if p not in reasons})
        if len(ids) < limit and (cut is not None or followed or any(full for _, full in sources)):
            # the Redis side ran out (or was cut): the rest of history from Cassandra, behind the same cursor
            below = ids[-1] if ids else before
            rest = await merged_feed(self._graph, self._posts, user_id, limit, below, False, self._safety)
            ids = merge_newest([ids, rest.post_ids], limit)
            reasons.update({p: "history" for p in rest.post_ids if p not in reasons})
            return FeedPage(ids, {p: reasons[p] for p in ids}, more_below=_more_below(ids, rest))
        return FeedPage(ids, {p: reasons[p] for p in ids})

    async def _pull_pages_shown(self, user_id: str, followed: list[str], before: str | None, limit: int,
                                floor: str | None) -> list[tuple[list[str], bool] | None]:
        """The pull pages of the followed celebrities the reader has not muted or blocked (either way).

        Why the filter: a muted celebrity's posts filled the pull pages and were dropped at hydration, and a busy
        one muted made page after page of nothing but a cursor, which clients take for the feed's end (fan-out
        and the Cassandra path leave them out the same way). The relations and the pages are asked in the same
        event-loop turn, so they share one Redis round trip (asked one after the other, a celebrity follower's
        page cost five round trips instead of four); a hidden author's page is read and dropped."""
        if self._safety is None:
            return await self._cache.pull_pages(followed, before, limit, floor)
        hidden, pages = await asyncio.gather(self._safety.hidden_authors(user_id, followed),
                                             self._cache.pull_pages(followed, before, limit, floor))
        return [page for author, page in zip(followed, pages, strict=True) if author not in hidden]

    async def _followed_pull_authors(self, user_id: str, pull: PullAuthors) -> list[str] | None:
        """The pull authors the reader follows, sorted: as the page's round trip found them in the reader's
        following copy; else (no copy yet, or too many follows to copy) every pull author asked of the graph,
        which fills the copy for the next read. None when the celebrity set is not complete."""
        if not pull.built:
            return None
        if pull.followed is not None:
            return sorted(pull.followed)
        every = pull.every if pull.every is not None else await self._cache.celebrities()
        if every is None:
            return None
        celebrities = [c for c in every if c != user_id]
        return sorted(await self._graph.followed_among(user_id, celebrities)) if celebrities else []

    async def _from_cassandra(self, user_id: str, before: str | None, limit: int) -> FeedPage:
        found = await merged_feed(self._graph, self._posts, user_id, limit, before, False, self._safety)
        return FeedPage(found.post_ids, dict.fromkeys(found.post_ids, "history"), source="cassandra",
                        more_below=_more_below(found.post_ids, found))

    def _rebuild_pull_sets_soon(self) -> None:
        """One background rebuild of every pull set and of the celebrity set per API process at a time."""
        if PULL_SETS in self._rebuilding:
            return
        task = asyncio.create_task(self._rebuild_pull_sets())
        self._rebuilding[PULL_SETS] = task
        task.add_done_callback(lambda _: self._rebuilding.pop(PULL_SETS, None))

    async def _rebuild_pull_sets(self) -> None:
        try:
            authors = await rebuild_pull_sets(self._posts, self._cache, self._cap)
            log.info("rebuilt the pull sets of %d celebrities from durable state", len(authors))
        except Exception:  # a background repair: the next read tries again
            log.exception("rebuilding the pull sets failed")

    def _rebuild_soon(self, user_id: str) -> None:
        """One background rebuild per user at a time (the task is kept referenced until it ends)."""
        if user_id in self._rebuilding:
            return
        task = asyncio.create_task(self.rebuild(user_id))
        self._rebuilding[user_id] = task
        task.add_done_callback(lambda _: self._rebuilding.pop(user_id, None))

    async def rebuild(self, user_id: str) -> None:
        """Write the user's Redis feed from durable state (what `photostream rebuild feeds` does per user)."""
        try:
            await build_settled(self._cache, user_id, lambda: merged_feed(
                self._graph, self._posts, user_id, self._cap, None, True, self._safety))
        except Exception:  # a background repair: the next read tries again
            log.exception("rebuilding the feed of %s failed", user_id)


def _more_below(ids: list[str], found: MergedFeed) -> str | None:
    """Where paging goes on after a page whose durable read stopped at a floor (its last id, or the floor
    itself when nothing above it was shown); None when that read was complete."""
    if found.floor is None:
        return None
    return ids[-1] if ids else found.floor
