"""Home feeds: the durable delivery record (Cassandra) and its Redis projections (feeds, celebrity sets).

Durable truth: ``author_feed_posts`` (every post the feeds processor delivered, how, and whether deleted) and
the follow graph. Redis holds, per user, the newest ``feed_cap`` ids (up to an eighth more before a cut) of
pushed posts by the people they follow and their own (a list of 16-byte ids, newest first, ending with a
marker saying the feed is built and whether it is cut: :mod:`sinks.feed_lists`), and per celebrity the newest
``feed_cap`` ids of pulled posts. A feed read merges the user's feed with the pull sets of the celebrities they
follow. Everything here is an idempotent set operation, so replays and duplicates leave feeds unchanged.

Every derivation from durable state filters an author's rows (deleted, private, pulled or pushed) *while*
reading them (:meth:`FeedPosts.newest_matching`), so "the newest ``cap`` pushed posts" is exactly that, or
a list marked cut where a bounded read stopped.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import cached_property, partial
from typing import Any, TypeVar

from cassandra.cluster import Session
from redis.exceptions import NoScriptError

from photostream.domain.feeds import Delivery, merge_newest
from photostream.settings import Settings
from sinks import built_sets, keys, redis_scripts
from sinks.cassandra import Gated, execute_grouped, key_chunks, pages
from sinks.feed_lists import (
    CUT,
    PAGE,
    PAGE_SHA,
    PAGES,
    PAGES_SHA,
    SENTINEL,
    FeedLists,
    add_args,
    newest_first,
    pack_id,
)
from sinks.graph import GraphReader
from sinks.partition_cache import FOLLOWING, MEMBERS_IN_SET, MEMBERS_IN_SET_SHA
from sinks.redis_client import is_cluster
from sinks.safety import SafetyReader

T = TypeVar("T")


@dataclass(frozen=True)
class DeliveredPost:
    author_id: str
    post_id: str
    visibility: str
    delivery: Delivery
    deleted: bool


#: pages of rows a filtered read of one author's posts goes through before it settles for a floor
READ_PAGES = 4


@dataclass(frozen=True)
class Newest:
    """An author's newest posts that passed a filter, newest first. ``floor``: where the read stopped before the
    author's first post (it had as many posts as asked, or its budget ran out); the posts are then exact only
    down to it, and older ones may exist."""
    posts: list[DeliveredPost]
    floor: str | None

    @cached_property
    def post_ids(self) -> list[str]:
        """(Computed once: a back-fill hands one followee's posts to each of their new followers.)"""
        return [p.post_id for p in self.posts]

    @property
    def cut(self) -> bool:
        return self.floor is not None


@dataclass(frozen=True)
class MergedFeed:
    """A feed derived from durable state, newest first; with a ``floor`` (some followee's read stopped at
    it) it holds only what lies above the floor and is exact only down to its last id."""
    post_ids: list[str]
    floor: str | None

    @property
    def cut(self) -> bool:
        return self.floor is not None


def is_whole_history(post_ids: list[str], floor: str | None, cap: int) -> bool:
    """Whether a derivation holds everything there is: its read reached the first post (no floor) and it is
    shorter than the cap it was read with."""
    return floor is None and len(post_ids) < cap


class FeedPosts:
    """What the feeds processor delivered: ``author_feed_posts`` (per author, newest first) and
    ``feed_deliveries`` (by post id), written together."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._run = Gated(session).run
        prepare = session.prepare
        self._q_known = prepare("SELECT author_id, post_id, visibility, delivery, deleted FROM feed_deliveries "
                                "WHERE post_id IN ?")
        self._q_tiers = prepare("SELECT author_id, tier FROM author_feed_posts WHERE author_id IN ? "
                                "PER PARTITION LIMIT 1")
        self._q_newest = prepare("SELECT author_id, post_id, visibility, delivery, deleted FROM author_feed_posts "
                                 "WHERE author_id = ? LIMIT ?")
        self._q_older = prepare("SELECT author_id, post_id, visibility, delivery, deleted FROM author_feed_posts "
                                "WHERE author_id = ? AND post_id < ? LIMIT ?")
        # pulled posts only, filtered by Cassandra inside the one partition: an author's pulled posts may lie
        # below any number of pushed ones (a celebrity turned ordinary), and most authors have none at all
        self._q_pulled_newest = prepare("SELECT author_id, post_id, visibility, delivery, deleted "
                                        "FROM author_feed_posts WHERE author_id = ? AND delivery = 'pull' "
                                        "LIMIT ? ALLOW FILTERING")
        self._q_pulled_older = prepare("SELECT author_id, post_id, visibility, delivery, deleted "
                                       "FROM author_feed_posts WHERE author_id = ? AND post_id < ? "
                                       "AND delivery = 'pull' LIMIT ? ALLOW FILTERING")
        self._w_created = (
            prepare("INSERT INTO author_feed_posts (author_id, post_id, visibility, delivery) "
                    "VALUES (?, ?, ?, ?) USING TIMESTAMP ?"),
            prepare("INSERT INTO feed_deliveries (author_id, post_id, visibility, delivery) "
                    "VALUES (?, ?, ?, ?) USING TIMESTAMP ?"),
        )
        self._w_deleted = (
            prepare("UPDATE author_feed_posts USING TIMESTAMP ? SET deleted = true "
                    "WHERE author_id = ? AND post_id = ?"),
            prepare("UPDATE feed_deliveries USING TIMESTAMP ? SET deleted = true, author_id = ? WHERE post_id = ?"),
        )
        self._w_tier = prepare("UPDATE author_feed_posts SET tier = ? WHERE author_id = ?")
        self._q_authors = prepare("SELECT DISTINCT author_id FROM author_feed_posts")

    @staticmethod
    def _post(row: Any) -> DeliveredPost:
        return DeliveredPost(row.author_id, row.post_id, row.visibility or "public", row.delivery or "push",
                             bool(row.deleted))

    async def known(self, post_ids: Iterable[str]) -> dict[str, DeliveredPost]:
        """What is recorded of these posts (a delete seen first leaves a row with only ``deleted``)."""
        results = await asyncio.gather(*(self._run(self._q_known, (c,)) for c in key_chunks(post_ids)))
        return {row.post_id: self._post(row) for rows in results for row in rows.current_rows}

    async def tiers(self, author_ids: Iterable[str]) -> dict[str, Delivery]:
        results = await asyncio.gather(*(self._run(self._q_tiers, (c,)) for c in key_chunks(author_ids)))
        return {row.author_id: row.tier for rows in results for row in rows.current_rows
                if row.tier in ("push", "pull")}

    def created(self, post: DeliveredPost, occurred_at: int) -> list[tuple[Any, Any]]:
        """The writes recording a delivered post (for :meth:`write`), stamped with the create's time."""
        params = (post.author_id, post.post_id, post.visibility, post.delivery, occurred_at * 1000)
        return [(statement, params) for statement in self._w_created]

    def deleted(self, author_id: str, post_id: str, occurred_at: int) -> list[tuple[Any, Any]]:
        """A tombstone with the delete's time: a create replayed (or arriving) later cannot undo it."""
        return [(statement, (occurred_at * 1000, author_id, post_id)) for statement in self._w_deleted]

    def tier(self, author_id: str, tier: Delivery) -> tuple[Any, Any]:
        return self._w_tier, (tier, author_id)

    async def write(self, statements: list[tuple[Any, Any]]) -> None:
        """A batch's record writes as a few grouped requests: each is an upsert stamped with its event's time
        (or a tier, one value per author), so they are order-free and a re-applied batch changes nothing."""
        await execute_grouped(self._session, statements)

    async def newest(self, author_id: str, limit: int, before: str | None = None,
                     with_deleted: bool = False, pulled_only: bool = False) -> list[DeliveredPost]:
        """The author's newest live posts (older than ``before``), newest first; ``with_deleted`` keeps deleted
        ones too (what a removal must reach: a feed may still hold a post deleted in the same batch);
        ``pulled_only``: only posts delivered by pull."""
        older, newest = (self._q_pulled_older, self._q_pulled_newest) if pulled_only else \
            (self._q_older, self._q_newest)
        rows = await (self._run(older, (author_id, before, limit)) if before
                      else self._run(newest, (author_id, limit)))
        return [p for p in map(self._post, rows.current_rows) if with_deleted or not p.deleted]

    async def newest_matching(self, author_id: str, limit: int, keep: Callable[[DeliveredPost], bool],
                              before: str | None = None, pulled_only: bool = False) -> Newest:
        """The author's newest ``limit`` posts that ``keep`` accepts (older than ``before``), reading on past
        the ones it refuses (deleted, private, pulled: whatever the caller's list never holds) for at most
        :data:`READ_PAGES` pages of ``limit`` rows. Taking the first ``limit`` rows and filtering them gave a
        list that looked complete but skipped the author's older matching posts (a celebrity turned ordinary
        has pushed posts below a run of pulled ones). A read that found ``limit`` posts says it stopped at the
        last one (older ones may exist): a list built from it and later shrunk by a removal must not pass for
        the author's whole history."""
        kept: list[DeliveredPost] = []
        if limit <= 0:
            return Newest([], None)
        for _ in range(READ_PAGES):
            rows = await self.newest(author_id, limit, before, with_deleted=True, pulled_only=pulled_only)
            kept += filter(keep, rows)
            if len(kept) >= limit:
                return Newest(kept[:limit], kept[limit - 1].post_id)
            if len(rows) < limit:
                return Newest(kept, None)
            before = rows[-1].post_id
        return Newest(kept, before)


    async def authors(self) -> AsyncIterator[list[str]]:
        """Every author with a delivery record, a page at a time (rebuilds walk them all)."""
        async for page in pages(self._session, self._q_authors, (), 1000):
            yield [row.author_id for row in page]


def in_pull_set(post: DeliveredPost) -> bool:
    """Whether an author's Redis pull set holds ``post``."""
    return post.delivery == "pull" and post.visibility != "private" and not post.deleted


def pushed(post: DeliveredPost) -> bool:
    """Whether followers' Redis feeds hold ``post`` (deleted or not: what a removal must reach)."""
    return post.delivery == "push" and post.visibility != "private"


def pushed_live(post: DeliveredPost) -> bool:
    return pushed(post) and not post.deleted


async def expected_pull_set(posts: FeedPosts, author_id: str, cap: int) -> Newest:
    """What an author's Redis pull set holds: their newest ``cap`` pulled posts (cut if the read stopped at
    its budget, which only private or deleted pulled posts use up)."""
    return await posts.newest_matching(author_id, cap, in_pull_set, pulled_only=True)


#: a member of the celebrity set meaning "this set is complete" (never an id: ids are UUIDs)
CELEBRITIES_BUILT = "\x00built"
#: how many members of the celebrity set are markers, not authors (:data:`CELEBRITIES_BUILT`; a rebuild's fence
#: is one more while it runs, which only costs a walk of an empty set)
CELEBRITY_SET_MARKERS = 1
#: authors per SADD when a rebuild marks the set
_MARK_CHUNK = 1_000


@dataclass(frozen=True)
class PullAuthors:
    """What a feed read's first round trip learnt of the pull authors (:meth:`FeedCache.page_and_pull_authors`):
    ``built`` False when the celebrity set is not known to be complete; ``followed`` those the reader follows,
    None when the reader's following copy could not say (not made yet, or too many follows to copy); ``every``
    the whole set, when it was read (Redis Cluster)."""

    built: bool
    followed: list[str] | None = None
    every: list[str] | None = None


async def rebuild_pull_sets(posts: FeedPosts, cache: FeedCache, cap: int) -> list[str]:
    """After a Redis loss: every author's pull set from durable state (a set some processor built meanwhile is
    kept), then the celebrity set marked complete (unless Redis lost it during the walk: raises
    :class:`sinks.built_sets.SetLostError`); returns the authors with a pull set. A walk over every author: a
    recovery, never the hot path."""
    fence = await cache.fence_celebrities()
    celebrities: list[str] = []
    async for authors in posts.authors():
        for author_id in authors:
            derived = await expected_pull_set(posts, author_id, cap)
            if derived.post_ids or derived.cut:
                celebrities.append(author_id)
                await cache.replace_pull(author_id, derived.post_ids, derived.cut, only_if_missing=True)
    await cache.mark_celebrities_built(celebrities, fence)
    return celebrities


def shown_in_feed_of(user_id: str, post: DeliveredPost, pushed_only: bool) -> bool:
    """Whether ``post`` belongs in ``user_id``'s feed: own posts always; others' when not private (every
    reader of a feed follows the author, so followers-only posts qualify) and, for the Redis feed, pushed."""
    if post.author_id == user_id:
        return True
    return post.visibility != "private" and (post.delivery == "push" or not pushed_only)


async def merged_feed(graph: GraphReader, posts: FeedPosts, user_id: str, limit: int, before: str | None,
                      pushed_only: bool, safety: SafetyReader | None = None) -> MergedFeed:
    """The user's feed computed from durable state: the newest ``limit`` posts (older than ``before``) of
    everyone they follow and their own, minus authors the user muted or is in a block with (``safety``: the
    fan-out skips them too, so a live feed and its derivation agree). ``pushed_only`` gives exactly what the
    Redis feed holds (rebuilds); otherwise celebrity posts are included (a read while Redis lacks the feed).
    If some author's read stopped short (:meth:`FeedPosts.newest_matching`), the merge keeps only what lies
    above that author's floor, and says so (``cut``)."""
    followed = await graph.following(user_id)
    hidden = await safety.hidden_authors(user_id, followed) if safety is not None and followed else set()
    authors = [*(a for a in followed if a not in hidden), user_id]
    newest = await asyncio.gather(*(posts.newest_matching(a, limit, partial(_shown_live, user_id, pushed_only),
                                                          before) for a in authors))
    ids = merge_newest(([p.post_id for p in found.posts] for found in newest), limit)
    floor = max((found.floor for found in newest if found.floor is not None), default=None)
    return MergedFeed(ids if floor is None else [p for p in ids if p >= floor], floor)


def _shown_live(user_id: str, pushed_only: bool, post: DeliveredPost) -> bool:
    return not post.deleted and shown_in_feed_of(user_id, post, pushed_only)


class FeedChanges:
    """Edits to followers' feeds drawn from followees' durable posts (a follow's back-fill, an unfollow's or a
    mute's removal): the ids added and removed per follower and, where a followee's read stopped short of
    their first post, the floor below which that follower's feed is cut (it cannot vouch for what is below)."""

    def __init__(self) -> None:
        self.adds: dict[str, list[str]] = defaultdict(list)
        self.removes: dict[str, list[str]] = defaultdict(list)
        self.floors: dict[str, str] = {}

    def add(self, follower: str, found: Newest) -> None:
        self.adds[follower] += found.post_ids
        self._below(follower, found)

    def remove(self, follower: str, found: Newest) -> None:
        self.removes[follower] += found.post_ids
        self._below(follower, found)

    def _below(self, follower: str, found: Newest) -> None:
        if found.floor is not None:
            self.floors[follower] = max(self.floors.get(follower, found.floor), found.floor)

    async def apply(self, cache: FeedCache) -> None:
        await cache.add({f: ids for f, ids in self.adds.items() if ids})
        await cache.remove({f: ids for f, ids in self.removes.items() if ids})
        await cache.cut_below(self.floors)


class FeedCache:
    """The Redis side: feeds and celebrity pull sets (keys owned by :mod:`sinks.keys`), each a newest-first
    list of 16-byte ids (:mod:`sinks.feed_lists`); a feed key that exists is a built feed, even if empty.

    ``per_key`` (Redis Cluster) sends one script call per list, since a multi-key call must stay in one slot.
    ``reads``: the client every feed read's first round trip goes through (the API's batching client,
    :mod:`sinks.redis_batching`: the pages read in one event-loop turn share it); the page script goes by its
    text there (~1.2 KB), which a shared pipeline can send without a NOSCRIPT to repair. The celebrities' pull
    pages (one call each, up to hundreds) go there by EVALSHA, a read asked again after loading the script on
    the rare NOSCRIPT (on redis-py's own pipeline they had cost a fifth of a feed read's API CPU).
    """

    #: lists per script call during fan-out (one call per page of followers)
    KEYS_PER_CALL = 500
    #: pipelines of script calls in flight at once: Redis runs one call while the client packs the next
    LANES = 4

    def __init__(self, redis: Any, cap: int, ttl_s: int, per_key: bool = False, reads: Any = None) -> None:
        self._redis = redis
        self._reads = reads or redis
        self._cap = cap
        self._ttl_s = ttl_s
        self._per_key = per_key
        self._lists = FeedLists(redis)

    @classmethod
    def for_settings(cls, redis: Any, settings: Settings, reads: Any = None) -> FeedCache:
        return cls(redis, settings.feed_cap, settings.feed_ttl_s, per_key=is_cluster(redis), reads=reads)

    def _calls(self, user_ids: list[str]) -> list[list[str]]:
        if self._per_key:
            return [[u] for u in user_ids]
        return [user_ids[i:i + self.KEYS_PER_CALL] for i in range(0, len(user_ids), self.KEYS_PER_CALL)]

    # --- writes (the feeds processor) ---------------------------------------------------------------------
    async def add(self, additions: dict[str, list[str]]) -> None:
        """Add post ids to each user's feed, where the feed is built: users receiving the same ids share a
        script call, and all calls go in one pipeline."""
        await self._edit(additions, lambda users, ids, pipe: self._lists.add(
            keys=[keys.feed(u) for u in users], args=add_args(self._cap, "existing", ids), client=pipe))

    async def remove(self, removals: dict[str, list[str]]) -> None:
        await self._edit(removals, lambda users, ids, pipe: self._lists.remove(
            keys=[keys.feed(u) for u in users], args=ids, client=pipe))

    async def _edit(self, changes: dict[str, list[str]], call: Any) -> None:
        by_ids: dict[tuple[bytes, ...], list[str]] = defaultdict(list)
        packed: dict[tuple[str, ...], tuple[bytes, ...]] = {}  # a fan-out gives every follower the same ids
        for user_id, post_ids in changes.items():
            if post_ids:
                given = tuple(post_ids)
                ids = packed.get(given)
                if ids is None:
                    ids = packed[given] = tuple(newest_first(post_ids))
                by_ids[ids].append(user_id)
        if not by_ids:
            return
        calls = [(chunk, list(ids)) for ids, users in by_ids.items() for chunk in self._calls(users)]
        lanes = min(self.LANES, len(calls))
        await asyncio.gather(*(self._send(calls[lane::lanes], call) for lane in range(lanes)))

    async def _send(self, calls: list[tuple[list[str], list[bytes]]], call: Any) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for users, ids in calls:
                await call(users, ids, pipe)
            await redis_scripts.execute(pipe)

    async def cut_below(self, floors: dict[str, str]) -> None:
        """Each built feed keeps only its ids at or above the user's floor and is marked cut (or is dropped, to
        be rebuilt when read, if nothing is left): a back-fill whose read of a followee stopped at that floor
        cannot vouch for the feed below it."""
        for chunk in self._calls(list(floors)):
            await self._lists.cut_below(keys=[keys.feed(u) for u in chunk], args=[pack_id(floors[u]) for u in chunk])

    async def pull_add(self, author_id: str, post_ids: list[str]) -> bool:
        """Add to the author's pull set if it is built; False if it is not (then the caller builds it from
        durable state: a pull set created from one new post would hide the older ones from every reader)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            await self._lists.add(keys=[keys.feed_pull(author_id)],
                                  args=add_args(self._cap, "existing", newest_first(post_ids)), client=pipe)
            pipe.sadd(keys.feed_celebrities(), author_id)
            touched, _ = await pipe.execute()
        return bool(touched)

    async def pull_remove(self, author_id: str, post_ids: list[str]) -> None:
        await self._lists.remove(keys=[keys.feed_pull(author_id)], args=newest_first(post_ids))

    # --- reads (the API) ----------------------------------------------------------------------------------
    async def page(self, user_id: str, before: str | None, limit: int) -> tuple[list[str], bool] | None:
        """Up to ``limit`` ids of the user's Redis feed older than ``before`` and whether the feed may hold
        less than the whole history (it is cut: :mod:`sinks.feed_lists`); None if the feed is not built.
        Reading a feed extends its life."""
        found = await self._lists.page(keys=[keys.feed(user_id)],
                                       args=[pack_id(before) if before else b"", limit, self._ttl_s])
        return self._page_of(found)

    async def page_and_pull_authors(self, user_id: str, before: str | None, limit: int
                                    ) -> tuple[tuple[list[str], bool] | None, PullAuthors]:
        """:meth:`page` and the pull authors the reader follows, in one round trip (every feed read needs both):
        whether the celebrity set is complete, and which of its members the reader's following copy
        (:mod:`sinks.partition_cache`) holds, found by a script walking the smaller of the two. Until stop 50 a
        read took the whole set and then asked the copy about each member: two round trips, and two lists as
        long as the set, which grows with the network, not with the reader. On Redis Cluster, whose scripts
        cannot span the set and a user's copy, the whole set as before. Both scripts go by their SHA1: by its
        text, Redis hashed the ~1.6 KB page script again on every read (EVAL ~140 µs of Redis time against ~95
        for EVALSHA)."""
        after = pack_id(before) if before else b""
        return await self._by_sha(lambda: self._page_and_pull_authors_once(user_id, after, limit),
                                  PAGE, MEMBERS_IN_SET)

    async def _page_and_pull_authors_once(self, user_id: str, after: bytes, limit: int
                                          ) -> tuple[tuple[list[str], bool] | None, PullAuthors]:
        async with self._reads.pipeline(transaction=False) as pipe:
            pipe.evalsha(PAGE_SHA, 1, keys.feed(user_id), after, limit, self._ttl_s)
            if is_cluster(self._redis):
                pipe.smembers(keys.feed_celebrities())
                found, members = await redis_scripts.execute(pipe)
                every = _celebrities_of(members)
                return self._page_of(found), PullAuthors(every is not None, every=every)
            pipe.sismember(keys.feed_celebrities(), CELEBRITIES_BUILT)
            pipe.evalsha(MEMBERS_IN_SET_SHA, 2, keys.feed_celebrities(), keys.partition_copy(FOLLOWING, user_id),
                         CELEBRITY_SET_MARKERS)
            found, built, followed = await redis_scripts.execute(pipe)
        return self._page_of(found), PullAuthors(bool(built), None if followed is None else list(followed))

    def _page_of(self, found: Any) -> tuple[list[str], bool] | None:
        """A page script's answer: the ids, and whether the page is exact only down to its last id (the list is
        cut: marked so, or at its cap). A page that stopped at its floor is exact down to the floor, below
        everything the merged page keeps, so it is taken as exact."""
        if found is None:
            return None
        size, ids, cut, stopped = found
        return list(ids), (int(size) >= self._cap or bool(int(cut))) and not int(stopped)

    async def celebrities(self) -> list[str] | None:
        """Every author with a pull set; None if the set is not known to be complete (never built from durable
        state, or lost with Redis: then a reader cannot tell a celebrity it follows from anyone else)."""
        return _celebrities_of(await self._redis.smembers(keys.feed_celebrities()))

    async def fence_celebrities(self) -> str:
        """Before a walk that finds every author with a pull set (:mod:`sinks.built_sets`)."""
        return await built_sets.begin(self._redis, keys.feed_celebrities())

    async def mark_celebrities_built(self, author_ids: Iterable[str], fence: str) -> None:
        """The celebrity set is complete: ``author_ids`` (all authors with a pull set, found since ``fence``)
        and the built marker; raises :class:`sinks.built_sets.SetLostError` if Redis lost the set since."""
        key, authors = keys.feed_celebrities(), list(author_ids)
        for i in range(0, len(authors), _MARK_CHUNK):
            await self._redis.sadd(key, *authors[i:i + _MARK_CHUNK])
        await built_sets.finish(self._redis, key, fence, CELEBRITIES_BUILT)

    async def pull_pages(self, author_ids: list[str], before: str | None, limit: int, floor: str | None = None
                         ) -> list[tuple[list[str], bool] | None]:
        """Each author's pull-set page older than ``before`` and whether the set is cut (older pull posts may
        exist only in Cassandra); None for a pull set that is not built. ``floor``: the last id of a full page
        these pages are merged with, below which none of theirs can make the merged page: they stop there (a
        reader following eleven celebrities read 220 ids, formatted by Redis, for a page of 20)."""
        after, below = (pack_id(before) if before else b""), (pack_id(floor) if floor else b"")
        found = await self._by_sha(lambda: self._pull_pages_once(author_ids, after, limit, below),
                                   PAGE if self._per_key else PAGES)
        return [self._page_of(page) for page in found]

    async def _by_sha(self, read: Callable[[], Awaitable[T]], *scripts: str) -> T:
        """``read()``, whose scripts go by their SHA1; after a NOSCRIPT (Redis restarted or flushed its scripts)
        ``scripts`` are loaded and it is asked once more (a read: asking again changes nothing)."""
        try:
            return await read()
        except NoScriptError:
            for script in scripts:
                await self._redis.script_load(script)
            return await read()

    async def _pull_pages_once(self, author_ids: list[str], after: bytes, limit: int, floor: bytes) -> list[Any]:
        """The pages as :data:`PAGE` answers each (None for a set not built): one :data:`PAGES` command, or on
        Redis Cluster one :data:`PAGE` per set on a pipeline. (TTL 0: a pull set's life is not a reader's to
        extend.)"""
        if not self._per_key:
            pages = await self._reads.evalsha(PAGES_SHA, len(author_ids), *map(keys.feed_pull, author_ids),
                                              after, limit, 0, floor)
            return [None if page == 0 else page for page in pages]
        async with self._reads.pipeline(transaction=False) as pipe:
            for author_id in author_ids:
                pipe.evalsha(PAGE_SHA, 1, keys.feed_pull(author_id), after, limit, 0, floor)
            return list(await pipe.execute())

    def _list_of(self, post_ids: list[str], cut: bool) -> list[bytes]:
        """A list's items: the newest ``cap`` ids and the end marker: cut if ``cut``, or if the list is full (a
        derivation read with ``limit=cap`` that fills it may have left older posts out; a list marked whole
        at its cap that a removal then shortened hid them from every reader for good)."""
        ids = newest_first(post_ids)
        return [*ids[:self._cap], CUT if cut or len(ids) >= self._cap else SENTINEL]

    async def _replace(self, key: str, post_ids: list[str], cut: bool, ttl_s: int | None) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.rpush(key, *self._list_of(post_ids, cut))
            if ttl_s:
                pipe.expire(key, ttl_s)
            await pipe.execute()

    async def build(self, user_id: str, post_ids: list[str], cut: bool = False) -> None:
        """Replace the user's feed with ``post_ids`` (a rebuild), marked built; ``cut``: exact only down to the
        last id (what :func:`merged_feed` says of a derivation that stopped at a floor)."""
        await self._replace(keys.feed(user_id), post_ids, cut, self._ttl_s)

    async def replace_pull(self, author_id: str, post_ids: list[str], cut: bool = False,
                           only_if_missing: bool = False) -> None:
        """Write the author's pull set (built, so kept even when empty) and list the author as a celebrity.
        ``only_if_missing``: leave a pull set someone built meanwhile (it is at least as fresh as ours)."""
        if not only_if_missing:
            await self._replace(keys.feed_pull(author_id), post_ids, cut, None)
        else:
            building = keys.feed_pull_building(author_id)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.delete(building)
                pipe.rpush(building, *self._list_of(post_ids, cut))
                pipe.renamenx(building, keys.feed_pull(author_id))
                pipe.delete(building)
                await pipe.execute()
        await self._redis.sadd(keys.feed_celebrities(), author_id)

    async def pull_ids(self, author_id: str) -> tuple[list[str], bool] | None:
        """The author's whole pull set and whether readers take it as cut; None if it is not built."""
        return self._page_of(await self._lists.page(keys=[keys.feed_pull(author_id)], args=[b"", 2 * self._cap, 0]))

    async def built_feed_owners(self) -> AsyncIterator[str]:
        """Users whose feed is built in Redis (a SCAN: never blocks Redis)."""
        async for key in self._redis.scan_iter(match=keys.feed("*"), count=1000):
            yield keys.feed_owner(key)

    async def built_ids(self, user_id: str) -> list[str] | None:
        """Every id of the user's feed, newest first (None if not built)."""
        found = await self.built_list(user_id)
        return found[0] if found else None

    async def built_list(self, user_id: str) -> tuple[list[str], bool] | None:
        """Every id of the user's feed (up to the eighth a list keeps past the cap) and whether readers take it
        as cut; None if it is not built: what a rebuild compares."""
        return self._page_of(await self._lists.page(keys=[keys.feed(user_id)], args=[b"", 2 * self._cap, 0]))


def _celebrities_of(members: set[str]) -> list[str] | None:
    """The celebrity set's authors; None unless its built marker says it is complete."""
    if CELEBRITIES_BUILT not in members:
        return None
    return [m for m in members if not built_sets.is_marker(m)]


async def build_settled(cache: FeedCache, user_id: str, derive: Callable[[], Awaitable[MergedFeed]],
                        derived: MergedFeed | None = None) -> None:
    """Build the user's feed from durable state (``derived``, or ``derive()``), then settle what moved meanwhile.

    Why settle: the feeds processor writes durable state first and edits only feeds that are built, so an edit
    it made between the derivation and the build reached durable state alone and the build wrote over it (a new
    user's feed could miss for good the back-fill of the accounts they had just followed). So the state is
    derived again after the build and the difference applied; an edit made after the build went to the built
    feed itself."""
    found = derived if derived is not None else await derive()
    await cache.build(user_id, found.post_ids, found.cut)
    again = await derive()
    before, after = set(found.post_ids), set(again.post_ids)
    added = [p for p in again.post_ids if p not in before]
    removed = [p for p in found.post_ids if p not in after]
    if added:
        await cache.add({user_id: added})
    if removed:
        await cache.remove({user_id: removed})
