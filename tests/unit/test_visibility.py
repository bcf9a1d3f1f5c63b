"""The visibility rule, table-driven: every (viewer relation, visibility) cell."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from api.visibility import known_or_read, visible_posts
from photostream.domain.visibility import may_see, needs_follow_check

AUTHOR, FAN, STRANGER = "a", "f", "s"


@pytest.mark.parametrize(("viewer", "follows", "public", "followers", "private"), [
    (AUTHOR, False, True, True, True),
    (FAN, True, True, True, False),
    (STRANGER, False, True, False, False),
    (None, False, True, False, False),
])
def test_who_sees_which_visibility(viewer: str | None, follows: bool, public: bool, followers: bool,
                                   private: bool) -> None:
    assert may_see(viewer, AUTHOR, "public", follows) is public
    assert may_see(viewer, AUTHOR, "followers", follows) is followers
    assert may_see(viewer, AUTHOR, "private", follows) is private


def test_an_unknown_visibility_fails_closed() -> None:
    assert may_see(STRANGER, AUTHOR, "friends-of-friends", True) is False
    assert may_see(AUTHOR, AUTHOR, "friends-of-friends") is True


def test_only_followers_posts_of_others_need_the_graph() -> None:
    assert needs_follow_check(FAN, AUTHOR, "followers")
    assert not needs_follow_check(AUTHOR, AUTHOR, "followers")
    assert not needs_follow_check(None, AUTHOR, "followers")
    assert not needs_follow_check(FAN, AUTHOR, "public")


class FakeGraph:
    def __init__(self, follows: set[tuple[str, str]]) -> None:
        self.follows, self.queries = follows, 0

    async def followed_among(self, follower: str, candidates: set[str]) -> set[str]:
        self.queries += 1
        return {c for c in candidates if (follower, c) in self.follows}

    async def private_among(self, user_ids: set[str]) -> set[str]:
        return set()

    async def blocked_among(self, user_id: str, others: set[str]) -> set[str]:
        return set()


def test_a_page_is_filtered_in_order_with_one_graph_read() -> None:
    posts = [{"author_id": "x", "visibility": "followers"}, {"author_id": "y", "visibility": "followers"},
             None, {"author_id": "y", "visibility": "public"}, {"author_id": "z", "visibility": None}]
    graph = FakeGraph({(FAN, "x")})
    shown = asyncio.run(visible_posts(graph, FAN, posts))  # type: ignore[arg-type]
    assert shown == [posts[0], None, None, posts[3], posts[4]]
    assert graph.queries == 1


def test_known_answers_cost_no_task_and_reads_keep_their_places() -> None:
    async def read(answer: set[str]) -> set[str]:
        await asyncio.sleep(0)
        return answer

    async def tasks_made_by(*answers: set[str] | Any) -> tuple[list[set[str]], int]:
        made = 0
        loop = asyncio.get_running_loop()

        def counting(loop_: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
            nonlocal made
            made += 1
            return asyncio.Task(coro, loop=loop_, **kwargs)

        loop.set_task_factory(counting)  # type: ignore[arg-type]
        return await known_or_read(*answers), made

    assert asyncio.run(tasks_made_by({"a"}, set())) == ([{"a"}, set()], 0)
    assert asyncio.run(tasks_made_by({"a"}, read({"b"}))) == ([{"a"}, {"b"}], 0)
    assert asyncio.run(tasks_made_by(read({"a"}), {"b"}, read({"c"}))) == ([{"a"}, {"b"}, {"c"}], 2)


def test_a_page_of_public_posts_with_what_the_caller_read_asks_the_graph_nothing() -> None:
    posts = [{"author_id": "x", "visibility": "public"}, {"author_id": "y", "visibility": "public"}]
    graph = FakeGraph(set())
    shown = asyncio.run(visible_posts(graph, FAN, posts, blocked={"y"}, private=set()))  # type: ignore[arg-type]
    assert shown == [posts[0], None]
    assert graph.queries == 0
