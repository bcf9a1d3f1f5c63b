"""Paging a home feed merged from Redis sources cut to the cap: no page after the first skips a post.

Found by the workers-SIGKILLed faults test (a feed long enough for two pages): a followed celebrity's pull set
full to the cap with nothing below the cursor was taken as exact there, so page 2 kept another source's older
entries and continued from Cassandra only below them, skipping the posts in between.
"""

from __future__ import annotations

from collections.abc import Iterable

from sinks.feed_reads import FeedReader, vouched_down_to
from sinks.feeds import DeliveredPost

CAP = 2


def pid(n: int) -> str:
    """Ids ordered as time: a larger ``n`` is newer (UUIDv7-like: compares as text and as bytes alike)."""
    return f"00000000-0000-7000-8000-{n:012d}"


class FakeCache:
    """The Redis side: the user's feed (pushed posts) and each celebrity's pull set, newest first, capped."""

    def __init__(self, feed: list[str], pulls: dict[str, list[str]]) -> None:
        self.feed, self.pulls = feed, pulls

    @staticmethod
    def _page(ids: list[str], before: str | None, limit: int) -> tuple[list[str], bool]:
        below = [p for p in ids if before is None or p < before]
        return below[:limit], len(ids) >= CAP

    async def page(self, user_id: str, before: str | None, limit: int) -> tuple[list[str], bool]:
        return self._page(self.feed, before, limit)

    async def page_and_celebrities(self, user_id: str, before: str | None, limit: int
                                   ) -> tuple[tuple[list[str], bool], list[str]]:
        return await self.page(user_id, before, limit), await self.celebrities()

    async def celebrities(self) -> list[str]:
        return list(self.pulls)

    async def pull_pages(self, authors: list[str], before: str | None, limit: int
                         ) -> list[tuple[list[str], bool] | None]:
        return [self._page(self.pulls[a], before, limit) for a in authors]


class FakeGraph:
    def __init__(self, following: list[str]) -> None:
        self._following = following

    async def following(self, user_id: str) -> list[str]:
        return self._following

    async def followed_among(self, user_id: str, candidates: Iterable[str]) -> set[str]:
        return set(candidates) & set(self._following)


class FakePosts:
    """The durable delivery record: every post of every author, newest first."""

    def __init__(self, by_author: dict[str, list[DeliveredPost]]) -> None:
        self._by_author = by_author

    async def newest(self, author_id: str, limit: int, before: str | None = None) -> list[DeliveredPost]:
        return [p for p in self._by_author.get(author_id, []) if before is None or p.post_id < before][:limit]


def test_a_full_source_with_nothing_below_the_cursor_vouches_for_nothing_below_it() -> None:
    assert vouched_down_to([([pid(3)], False), ([], True)], before=pid(5), limit=10) == pid(5)
    assert vouched_down_to([([pid(3)], False), ([], False)], before=pid(5), limit=10) is None
    assert vouched_down_to([([pid(3), pid(2)], True), ([pid(4)], False)], before=None, limit=10) == pid(2)
    assert vouched_down_to([([pid(4), pid(3)], False)], before=None, limit=2) == pid(3)  # a page as long as asked


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
