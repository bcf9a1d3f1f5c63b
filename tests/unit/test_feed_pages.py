"""Paging a home feed merged from Redis sources cut to the cap: no page after the first skips a post.

Found by the workers-SIGKILLed faults test (a feed long enough for two pages): a followed celebrity's pull set
full to the cap with nothing below the cursor was taken as exact there, so page 2 kept another source's older
entries and continued from Cassandra only below them, skipping the posts in between.

Found by the Redis-lost faults test: after a rebuild, an author whose tier had changed (pulled posts among
pushed ones) lost posts, because the derivations took the author's newest ``cap`` rows and filtered them: the
pull set came out short of the cap while older pulled posts existed, so readers took it for the whole history.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from typing import Any

from sinks.feed_reads import ABOVE_EVERY_ID, FeedReader, vouched_down_to
from sinks.feeds import READ_PAGES, DeliveredPost, FeedPosts, PullAuthors, expected_pull_set, merged_feed, pushed_live

CAP = 2


def pid(n: int) -> str:
    """Ids ordered as time: a larger ``n`` is newer (UUIDv7-like: compares as text and as bytes alike)."""
    return f"00000000-0000-7000-8000-{n:012d}"


class FakeCache:
    """The Redis side: the user's feed (pushed posts) and each celebrity's pull set, newest first, capped."""

    def __init__(self, feed: list[str], pulls: dict[str, list[str]], cap: int = CAP,
                 cut: frozenset[str] = frozenset()) -> None:
        """``cut``: the lists ("feed" or an author) marked cut."""
        self.feed, self.pulls, self.cap, self.cut = feed, pulls, cap, cut
        self.floors: list[str | None] = []  # what each pull-page read was given

    def _page(self, name: str, ids: list[str], before: str | None, limit: int, floor: str | None = None
              ) -> tuple[list[str], bool]:
        """As the page script answers: a page that stopped at its floor is exact (down to the floor)."""
        page = [p for p in ids if before is None or p < before][:limit]
        kept = [p for p in page if floor is None or p >= floor]
        return kept, (len(ids) >= self.cap or name in self.cut) and len(kept) == len(page)

    async def page(self, user_id: str, before: str | None, limit: int) -> tuple[list[str], bool]:
        return self._page("feed", self.feed, before, limit)

    async def page_and_pull_authors(self, user_id: str, before: str | None, limit: int
                                    ) -> tuple[tuple[list[str], bool], PullAuthors]:
        """As on Redis Cluster: the whole celebrity set (the reader's follows are then asked of the graph)."""
        return await self.page(user_id, before, limit), PullAuthors(True, every=await self.celebrities())

    async def celebrities(self) -> list[str]:
        return list(self.pulls)

    async def pull_pages(self, authors: list[str], before: str | None, limit: int, floor: str | None = None
                         ) -> list[tuple[list[str], bool] | None]:
        self.floors.append(floor)
        return [self._page(a, self.pulls[a], before, limit, floor) for a in authors]


class FakeGraph:
    def __init__(self, following: list[str]) -> None:
        self._following = following

    async def following(self, user_id: str) -> list[str]:
        return self._following

    async def followed_among(self, user_id: str, candidates: Iterable[str]) -> set[str]:
        return set(candidates) & set(self._following)


class FakePosts:
    """The durable delivery record: every post of every author, newest first."""

    newest_matching = FeedPosts.newest_matching  # the code under test: it reads through :meth:`newest`

    def __init__(self, by_author: dict[str, list[DeliveredPost]]) -> None:
        self._by_author = by_author
        self.reads = 0  # how often durable state was read

    async def newest(self, author_id: str, limit: int, before: str | None = None,
                     with_deleted: bool = False, pulled_only: bool = False) -> list[DeliveredPost]:
        self.reads += 1
        rows = [p for p in self._by_author.get(author_id, []) if (before is None or p.post_id < before)
                and (p.delivery == "pull" or not pulled_only)][:limit]
        return [p for p in rows if with_deleted or not p.deleted]


def posts_of(author: str, *runs: tuple[str, range]) -> list[DeliveredPost]:
    """An author's posts, newest first, as runs of (delivery, ids)."""
    return [DeliveredPost(author, pid(n), "public", delivery, False) for delivery, ids in runs for n in ids]


async def every_page(reader: FeedReader, user: str, limit: int) -> list[str]:
    """Every post id of the user's feed, paging as the API does (by each page's next cursor)."""
    seen: list[str] = []
    before: str | None = None
    while True:
        page = await reader.page(user, before, limit)
        seen += page.post_ids
        before = page.next_before(limit)
        if before is None:
            return seen


def test_a_full_source_with_nothing_below_the_cursor_vouches_for_nothing_below_it() -> None:
    assert vouched_down_to([([pid(3)], False), ([], True)], before=pid(5), limit=10) == pid(5)
    assert vouched_down_to([([pid(3)], False), ([], False)], before=pid(5), limit=10) is None
    assert vouched_down_to([([pid(3), pid(2)], True), ([pid(4)], False)], before=None, limit=10) == pid(2)
    assert vouched_down_to([([pid(4), pid(3)], False)], before=None, limit=2) == pid(3)  # a page as long as asked
    # a cut list with nothing left in it (a bounded read found nothing above its floor) vouches for nothing
    assert vouched_down_to([([pid(3)], False), ([], True)], before=None, limit=10) == ABOVE_EVERY_ID


async def test_every_page_of_a_feed_merged_from_cut_sources_holds_every_post() -> None:
    user, pushed, celebrity = "user", "pushed", "celebrity"
    # the pushed author posted long ago (their posts still in the feed, which is not full); the celebrity
    # posts all the time, so its pull set (full to the cap) holds only its newest posts
    pushed_posts = [DeliveredPost(pushed, pid(n), "public", "push", False) for n in (2, 1)]
    pulled = [DeliveredPost(celebrity, pid(n), "public", "pull", False) for n in range(20, 2, -1)]
    reader = FeedReader(FakeGraph([pushed, celebrity]),  # type: ignore[arg-type]
                        FakePosts({pushed: pushed_posts, celebrity: pulled}),  # type: ignore[arg-type]
                        FakeCache([pid(2), pid(1)], {celebrity: [pid(20), pid(19)]}), CAP)  # type: ignore[arg-type]
    seen: list[str] = []
    before: str | None = None
    while True:
        page = await reader.page(user, before, limit=5)
        seen += page.post_ids
        if len(page.post_ids) < 5:
            break
        before = page.post_ids[-1]
    assert seen == [pid(n) for n in range(20, 0, -1)]


async def test_a_feed_rebuilt_after_a_tier_change_holds_every_post() -> None:
    user, flapping, friend = "user", "flapping", "friend"
    # flapping pushed 3-4, became a celebrity (5-8 pulled), then went back to push (9); friend posted once
    posts = FakePosts({flapping: posts_of(flapping, ("push", range(9, 8, -1)), ("pull", range(8, 4, -1)),
                                          ("push", range(4, 2, -1))),
                       friend: posts_of(friend, ("push", range(1, 0, -1)))})
    graph = FakeGraph([flapping, friend])
    cap = 4
    # what a rebuild writes to Redis after a loss: the feed and the pull set, each derived from durable state
    feed = await merged_feed(graph, posts, user, cap, None, True)  # type: ignore[arg-type]
    pulled = await expected_pull_set(posts, flapping, cap)  # type: ignore[arg-type]
    assert feed.post_ids == [pid(9), pid(4), pid(3), pid(1)]  # the older pushed posts, below the pulled ones
    assert pulled.post_ids == [pid(n) for n in range(8, 4, -1)]
    cache = FakeCache(feed.post_ids, {flapping: pulled.post_ids}, cap)
    reader = FeedReader(graph, posts, cache, cap)  # type: ignore[arg-type]
    for limit in (10, 3, 1):
        assert await every_page(reader, user, limit) == [pid(n) for n in range(9, 0, -1) if n != 2]


async def test_a_bounded_read_stops_at_a_floor_and_the_feed_pages_on_below_it() -> None:
    user, celebrity, friend = "user", "celebrity", "friend"
    cap = 2
    pulled = range(2 * cap * READ_PAGES + 10, 10, -1)  # more pulled rows than a read goes through
    posts = FakePosts({celebrity: posts_of(celebrity, ("pull", pulled), ("push", range(10, 8, -1))),
                       friend: posts_of(friend, ("push", range(8, 0, -1)))})
    found = await posts.newest_matching(celebrity, cap, pushed_live)
    assert found.posts == [] and found.floor == pid(pulled[cap * READ_PAGES - 1])
    graph = FakeGraph([celebrity, friend])
    feed = await merged_feed(graph, posts, user, cap, None, True)  # type: ignore[arg-type]
    assert feed.cut and feed.post_ids == []  # nothing of the friend's is newer than the floor
    # read from Cassandra alone (Redis lost the feed): paging goes on below the floor, nothing is skipped
    reader = FeedReader(graph, posts, FakeCache([], {}, cap), cap)  # type: ignore[arg-type]
    reader._cache.page_and_pull_authors = _not_built  # type: ignore[method-assign]
    everything = [pid(n) for n in pulled] + [pid(n) for n in range(10, 0, -1)]
    assert await every_page(reader, user, 3) == everything


class UnflooredCache(FakeCache):
    """The same lists read as before pull pages had a floor: every page as long as asked."""

    async def pull_pages(self, authors: list[str], before: str | None, limit: int, floor: str | None = None
                         ) -> list[tuple[list[str], bool] | None]:
        return await super().pull_pages(authors, before, limit, None)


async def test_pull_pages_stopped_at_the_floor_change_no_page_of_the_feed() -> None:
    """The floor (the last id of a full page of the reader's own feed) only spares reading ids that cannot make
    the page: over random feeds, pull sets, caps and cut marks, every page equals the page read without it, at
    the same cost in durable reads (a page that stopped at the floor taken as cut sent readers to Cassandra)."""
    rng = random.Random(20261205)
    floored_reads = 0
    for _ in range(300):
        cap, limit = rng.randint(2, 6), rng.randint(1, 5)
        ids = [pid(n) for n in range(60, 0, -1)]
        authors = ["pushed", *(f"celebrity-{i}" for i in range(rng.randint(1, 4)))]
        by_author: dict[str, list[str]] = {a: [] for a in authors}
        for post in ids:
            by_author[rng.choice(authors)].append(post)
        posts = FakePosts({a: posts_of(a, ("push" if a == "pushed" else "pull",
                                           [int(p[-12:]) for p in mine])) for a, mine in by_author.items()})
        feed = by_author["pushed"][:cap]
        pulls = {a: by_author[a][:cap] for a in authors[1:]}
        cut = frozenset(rng.sample(["feed", *authors[1:]], rng.randint(0, 2)))
        graph = FakeGraph(authors)
        floored = FakeCache(feed, pulls, cap, cut)
        pages = await every_page(FeedReader(graph, posts, floored, cap), "user", limit)  # type: ignore[arg-type]
        reads, posts.reads = posts.reads, 0
        unfloored = UnflooredCache(feed, pulls, cap, cut)
        assert pages == await every_page(FeedReader(graph, posts, unfloored, cap), "user", limit)  # type: ignore[arg-type]
        assert reads == posts.reads  # and no page went to durable state for what the lists hold
        floored_reads += sum(1 for f in floored.floors if f is not None)
    assert floored_reads > 100  # the floor was in play, not only the unfloored path


async def _not_built(user_id: str, before: str | None, limit: int) -> tuple[None, PullAuthors]:
    return None, PullAuthors(False)


class TurnRecordingSafety:
    """Blocks and mutes as :class:`sinks.safety.SafetyReader` answers them, recording when it was asked and when
    it answered (the batching Redis client answers a turn's questions together, a turn later)."""

    def __init__(self, hidden: set[str], journal: list[str]) -> None:
        self._hidden, self._journal = hidden, journal

    async def hidden_authors(self, user_id: str, authors: Iterable[str]) -> set[str]:
        self._journal.append("relations asked")
        await asyncio.sleep(0)  # the shared pipeline's round trip
        self._journal.append("relations answered")
        return self._hidden & set(authors)


class TurnRecordingCache(FakeCache):
    def __init__(self, *args: Any, journal: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.journal = journal
        self.asked: list[list[str]] = []

    async def pull_pages(self, authors: list[str], before: str | None, limit: int, floor: str | None = None
                         ) -> list[tuple[list[str], bool] | None]:
        self.journal.append("pull pages asked")
        self.asked.append(list(authors))
        return await super().pull_pages(authors, before, limit, floor)


async def test_a_muted_celebrity_is_left_out_and_its_relation_read_shares_the_pull_pages_turn() -> None:
    """The reader's relations with the followed celebrities (a muted or blocked one leaves the page) are asked in
    the same turn as the pull pages, so the batching client sends them in one round trip: asked one after the
    other, a celebrity follower's page cost five round trips instead of four."""
    user, kept, muted = "user", "kept", "muted"
    journal: list[str] = []
    cache = TurnRecordingCache([pid(1)], {kept: [pid(5), pid(3)], muted: [pid(6), pid(4)]}, cap=10,
                               journal=journal)
    reader = FeedReader(FakeGraph([kept, muted]), FakePosts({}), cache, 10,  # type: ignore[arg-type]
                        TurnRecordingSafety({muted}, journal))  # type: ignore[arg-type]
    page = await reader.page(user, None, 5)
    assert page.post_ids == [pid(5), pid(3), pid(1)]  # none of the muted celebrity's, in time order
    assert page.reasons == {pid(5): "celebrity", pid(3): "celebrity", pid(1): "followed"}
    # (then the rest of history below the Redis sources, read from the durable store, asks again)
    assert journal[:3] == ["relations asked", "pull pages asked", "relations answered"]
    assert cache.asked == [[kept, muted]]  # the muted one's page is read with the rest and dropped
