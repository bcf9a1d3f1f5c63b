"""What a block ends, found on real Cassandra (:class:`sinks.block_effects.BlockFootprint`): each side's comments
on the other's posts come from the counterpart's threads read whole when the counterpart has few posts with
short threads, and from the index on the commenter otherwise. Both ways must find the same comments: here each
answer is compared with the index's alone (``FEW_POSTS = 0``), and the index is counted."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cassandra.cluster import Session

from producers.ids import new_id
from sinks import block_effects
from sinks.block_effects import BlockFootprint


class Seeder:
    """Posts (listed by author, as the posts projector writes them) and comments on them."""

    def __init__(self, session: Session) -> None:
        self._post = session.prepare("INSERT INTO posts (post_id, author_id, caption, image_ids, visibility, "
                                     "created_at) VALUES (?, ?, '', [], 'public', ?)")
        self._listed = session.prepare(
            "INSERT INTO posts_by_author (author_id, post_id, visibility) VALUES (?, ?, 'public')")
        self._comment = session.prepare(
            "INSERT INTO comments_by_post (post_id, comment_id, user_id, text, created_at) VALUES (?, ?, ?, 'hi', ?)")
        self._session = session

    def posts(self, author: str, count: int) -> list[str]:
        ids = [new_id() for _ in range(count)]
        for post in ids:
            self._session.execute(self._post, (post, author, dt.datetime.now(dt.UTC)))
            self._session.execute(self._listed, (author, post))
        return ids

    def comment(self, post: str, user: str) -> str:
        comment = new_id()
        self._session.execute(self._comment, (post, comment, user, dt.datetime.now(dt.UTC)))
        return comment


class CountingSession:
    """The session, counting the statements that go to the index on the commenter."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self.index_reads = 0

    def prepare(self, query: str) -> Any:
        return self._session.prepare(query)

    def execute_async(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if "WHERE user_id = ?" in getattr(getattr(statement, "prepared_statement", None), "query_string", ""):
            self.index_reads += 1
        return self._session.execute_async(statement, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def comments_found(across: dict[tuple[str, str], Any]) -> dict[tuple[str, str], set[str]]:
    return {pair: {c.comment_id for c in found[1]} for pair, found in across.items()}


async def test_a_block_finds_the_same_comments_from_the_threads_as_from_the_index(
        cql: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    seed = Seeder(cql)
    small, big, long_thread, elsewhere = new_id(), new_id(), new_id(), new_id()
    troll, fan, pest, critic = new_id(), new_id(), new_id(), new_id()
    small_posts = seed.posts(small, 3)
    big_posts = seed.posts(big, block_effects.FEW_POSTS + 1)
    [long_post] = seed.posts(long_thread, 1)
    [other_post] = seed.posts(elsewhere, 1)
    expected = {
        # the troll commented twice on the small account's posts (and once elsewhere, which no block ends)
        (small, troll): {seed.comment(small_posts[0], troll), seed.comment(small_posts[2], troll)},
        # the fan commented on the big account's posts, and the big account on nothing of the fan's (no posts)
        (big, fan): {seed.comment(big_posts[0], fan), seed.comment(big_posts[-1], fan)},
        # the pest commented on a long thread
        (long_thread, pest): {seed.comment(long_post, pest)},
        # the critic never commented on the small account's posts
        (small, critic): set(),
    }
    seed.comment(other_post, troll)
    seed.comment(small_posts[1], fan)  # the fan's comment on a post of someone they are in no block with
    for _ in range(4):
        seed.comment(long_post, new_id())
    monkeypatch.setattr(block_effects, "LONG_THREAD", 3)  # the long thread holds 5 comments
    pairs = list(expected)

    counting = CountingSession(cql)
    found = await BlockFootprint(counting).between(pairs)
    assert comments_found(found) == expected
    # the index was asked only for the big account's commenter and the long thread's
    assert counting.index_reads == 2

    monkeypatch.setattr(block_effects, "FEW_POSTS", 0)  # everyone to the index: the same answer
    counting = CountingSession(cql)
    assert comments_found(await BlockFootprint(counting).between(pairs)) == expected
    assert counting.index_reads == 4


async def test_a_wave_of_blocks_by_one_account_reads_its_threads_once(cql: Session) -> None:
    """A wave of 200 blocks by one account (harassment: the usual reason for many at once) asks the index
    nothing; the one troll among them who commented is found."""
    seed = Seeder(cql)
    target = new_id()
    posts = seed.posts(target, 2)
    blocked = [new_id() for _ in range(200)]
    comment = seed.comment(posts[1], blocked[17])
    counting = CountingSession(cql)
    found = await BlockFootprint(counting).between([(target, person) for person in blocked])
    assert counting.index_reads == 0
    assert {pair: ids for pair, ids in comments_found(found).items() if ids} == {(target, blocked[17]): {comment}}
