"""Likes, comments and people tags a block (or an account deletion) raced: asked about again once written, and
retracted (streams/engagement_blocks)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from producers.ids import new_id
from streams import engagement_blocks
from streams.engagement_blocks import (
    name_post_authors,
    retract_raced_engagement,
    retract_refused,
    retraction_of,
)
from streams.engine.records import Record
from tests.unit.publisher_fakes import AckingPublisher

AUTHOR, PEST, FRIEND = new_id(), new_id(), new_id()


class _Blocks:
    """A safety reader whose only block is AUTHOR ↔ PEST (asked as (author, sender) pairs)."""

    session = None

    def __init__(self) -> None:
        self.asked: list[set[tuple[str, str]]] = []

    async def blocked_pairs(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        asked = set(pairs)
        self.asked.append(asked)
        return asked & {(AUTHOR, PEST), (PEST, AUTHOR)}


def _like(user: str, action: str = "like", at: int = 1_000) -> Record:
    return Record("like-changed", 0, 0, None, {"event_id": new_id(), "occurred_at": at, "post_id": new_id(),
                                               "user_id": user, "action": action, "post_author_id": AUTHOR})


def _comment(user: str, at: int = 2_000) -> Record:
    return Record("comment-added", 0, 0, None, {"event_id": new_id(), "occurred_at": at, "comment_id": new_id(),
                                                "post_id": new_id(), "user_id": user, "text": "x",
                                                "post_author_id": AUTHOR})


async def test_only_the_likes_across_a_block_are_retracted_by_an_unlike_that_stands_over_them() -> None:
    blocks, publisher = _Blocks(), AckingPublisher()
    raced, kept, unlike = _like(PEST), _like(FRIEND), _like(PEST, "unlike")
    count = await retract_raced_engagement([raced, kept, unlike, _comment(PEST)], "like-changed",
                                                     blocks, publisher, 1.0)  # type: ignore[arg-type]
    assert count == 1 and len(publisher.sent) == 1
    sent = publisher.sent[0]
    assert sent.topic == "like-changed"
    assert (sent.value["user_id"], sent.value["post_id"], sent.value["action"]) == (PEST, raced.value["post_id"],
                                                                                    "unlike")
    assert sent.value["occurred_at"] == raced.value["occurred_at"] + 1  # after the like, so it wins over it
    assert blocks.asked == [{(AUTHOR, PEST), (AUTHOR, FRIEND)}]  # one read, of the likes only


async def test_a_comment_across_a_block_is_deleted_by_the_posts_author_and_the_same_event_is_derived_again() -> None:
    blocks, publisher = _Blocks(), AckingPublisher()
    raced = _comment(PEST)
    assert await retract_raced_engagement([raced, _comment(FRIEND)], "comment-added", blocks, publisher,
                                                    1.0) == 1  # type: ignore[arg-type]
    deleted = publisher.sent[0].value
    assert deleted["comment_id"] == raced.value["comment_id"] and deleted["actor_id"] == AUTHOR
    assert deleted["commented_at"] == raced.value["occurred_at"]
    assert retraction_of(raced).value["event_id"] == deleted["event_id"]  # a retried batch re-sends the same one


async def test_nothing_is_read_for_a_batch_without_likes_and_nothing_is_published_without_a_block() -> None:
    blocks, publisher = _Blocks(), AckingPublisher()
    assert await retract_raced_engagement([_comment(PEST)], "like-changed", blocks, publisher,
                                                    1.0) == 0  # type: ignore[arg-type]
    assert blocks.asked == []
    assert await retract_raced_engagement([_like(FRIEND)], "like-changed", blocks, publisher,
                                                    1.0) == 0  # type: ignore[arg-type]
    assert publisher.sent == []


def _tag(tagger: str, tagged: str, action: str = "add") -> Record:
    return Record("photo-tag-changed", 0, 0, None, {
        "event_id": new_id(), "occurred_at": 3_000, "post_id": new_id(), "image_id": new_id(), "tagger_id": tagger,
        "tagged_id": tagged, "action": action, "x": 0.5, "y": 0.5, "pending": False})


async def test_a_tag_across_a_block_is_removed_as_the_tagged_person_and_untags_and_self_tags_are_not_asked() -> None:
    blocks, publisher = _Blocks(), AckingPublisher()
    raced = _tag(AUTHOR, PEST)
    assert await retract_raced_engagement(
        [raced, _tag(AUTHOR, FRIEND), _tag(AUTHOR, PEST, "remove"), _tag(AUTHOR, AUTHOR)], "photo-tag-changed",
        blocks, publisher, 1.0) == 1  # type: ignore[arg-type]
    assert blocks.asked == [{(AUTHOR, PEST), (AUTHOR, FRIEND)}]
    removed = publisher.sent[0].value
    assert (removed["action"], removed["tagger_id"], removed["tagged_id"]) == ("remove", PEST, PEST)
    assert (removed["post_id"], removed["image_id"]) == (raced.value["post_id"], raced.value["image_id"])


async def test_a_like_and_a_comment_by_an_account_whose_deletion_was_accepted_are_retracted_given_redis(
        monkeypatch: Any) -> None:
    import streams.engagement_blocks as engagement_blocks

    asked: list[set[str]] = []

    async def closed_among(redis: Any, session: Any, users: Iterable[str]) -> set[str]:
        asked.append(set(users))
        return {FRIEND} & set(users)

    async def noted_among(redis: Any, users: Iterable[str]) -> set[str]:
        return set()  # nobody in a block lately

    monkeypatch.setattr(engagement_blocks, "closed_among", closed_among)
    monkeypatch.setattr(engagement_blocks.recent_blocks, "noted_among", noted_among)
    blocks, publisher = _Blocks(), AckingPublisher()
    closed_like, closed_comment = _like(FRIEND), _comment(FRIEND)
    assert await retract_raced_engagement([closed_like, _like(AUTHOR)], "like-changed", blocks, publisher, 1.0,
                                          redis=object()) == 1  # type: ignore[arg-type]
    assert await retract_raced_engagement([closed_comment], "comment-added", blocks, publisher, 1.0,
                                          redis=object()) == 1  # type: ignore[arg-type]
    assert [e.value["user_id"] for e in publisher.sent] == [FRIEND, FRIEND]
    assert publisher.sent[0].value["action"] == "unlike"
    assert publisher.sent[1].value["comment_id"] == closed_comment.value["comment_id"]
    assert asked == [{FRIEND, AUTHOR}, {FRIEND}]
    assert blocks.asked == []  # (nobody in a block lately: Cassandra is not asked again)
    # the people-tags processor purges a deleted account's tags itself: it does not ask
    assert await retract_raced_engagement([_like(FRIEND)], "like-changed", blocks, publisher, 1.0, redis=object(),
                                          closed_accounts=False) == 0  # type: ignore[arg-type]
    assert len(asked) == 2


async def test_given_redis_cassandra_is_asked_again_only_about_pairs_with_someone_in_a_block_lately(
        monkeypatch: Any) -> None:
    import streams.engagement_blocks as engagement_blocks

    asked_noted: list[set[str]] = []

    async def noted_among(redis: Any, users: Iterable[str]) -> set[str]:
        asked_noted.append(set(users))
        return {AUTHOR} & set(users)

    async def closed_among(redis: Any, session: Any, users: Iterable[str]) -> set[str]:
        return set()

    monkeypatch.setattr(engagement_blocks.recent_blocks, "noted_among", noted_among)
    monkeypatch.setattr(engagement_blocks, "closed_among", closed_among)
    blocks, publisher = _Blocks(), AckingPublisher()
    raced, elsewhere = _like(PEST), _like(PEST)
    elsewhere.value["post_author_id"] = FRIEND  # (a post of someone not in a block lately)
    assert await retract_raced_engagement([raced, elsewhere, _like(FRIEND)], "like-changed", blocks, publisher,
                                          1.0, redis=object()) == 1  # type: ignore[arg-type]
    assert asked_noted == [{AUTHOR, FRIEND}]  # the posts' authors only: a block notes both its people
    assert blocks.asked == [{(AUTHOR, PEST), (AUTHOR, FRIEND)}]  # the noted author's pairs, not the other's
    assert publisher.sent[0].value["post_id"] == raced.value["post_id"]


async def test_with_redis_unable_to_say_who_was_in_a_block_every_pair_is_asked(monkeypatch: Any) -> None:
    import streams.engagement_blocks as engagement_blocks

    async def noted_among(redis: Any, users: Iterable[str]) -> None:
        return None

    monkeypatch.setattr(engagement_blocks.recent_blocks, "noted_among", noted_among)
    blocks, publisher = _Blocks(), AckingPublisher()
    assert await retract_raced_engagement([_tag(AUTHOR, PEST), _tag(AUTHOR, FRIEND)], "photo-tag-changed", blocks,
                                          publisher, 1.0, redis=object(), closed_accounts=False) == 1  # type: ignore[arg-type]
    assert blocks.asked == [{(AUTHOR, PEST), (AUTHOR, FRIEND)}]


async def test_a_comment_refused_here_is_retracted_for_whoever_applied_it_and_nothing_else_is() -> None:
    publisher = AckingPublisher()
    refused, kept, like = _comment(PEST), _comment(FRIEND), _like(PEST)
    assert await retract_refused([refused, kept, like], [kept], "comment-added", publisher,  # type: ignore[arg-type]
                                 1.0) == 1
    [deleted] = publisher.sent
    assert deleted.topic == "comment-deleted" and deleted.value["comment_id"] == refused.value["comment_id"]
    assert deleted.value["event_id"] == retraction_of(refused).value["event_id"]  # the same one on a retry
    assert await retract_refused([kept], [kept], "comment-added", publisher, 1.0) == 0  # type: ignore[arg-type]
    assert await retract_refused([refused], [], "comment-added", None, 1.0) == 0  # (no publisher: unit wiring)
    assert len(publisher.sent) == 1


class _PostsView:
    """The posts view as ``read_posts_cached`` reads it: ``known`` posts (id → author), and the posts the projector
    applies once :class:`_Projection` is waited for."""

    def __init__(self, known: dict[str, str], projected_later: dict[str, str]) -> None:
        self.known, self.later, self.reads = dict(known), projected_later, []

    async def read(self, session: Any, redis: Any, post_ids: list[str]) -> list[dict[str, Any] | None]:
        self.reads.append(list(post_ids))
        return [{"post_id": p, "author_id": self.known[p]} if p in self.known else None for p in post_ids]


class _Projection:
    def __init__(self, view: _PostsView, caught_up: bool) -> None:
        self.view, self.caught_up, self.asked = view, caught_up, []

    async def through(self, at_ms: int) -> bool:
        self.asked.append(at_ms)
        if self.caught_up:
            self.view.known |= self.view.later
        return self.caught_up


def _unnamed(record: Record, post_id: str) -> Record:
    return record._replace(value={**record.value, "post_id": post_id, "post_author_id": None})


async def test_a_like_of_a_post_not_projected_yet_is_named_once_the_projector_applied_the_posts_before_it(
        monkeypatch: Any) -> None:
    """A post the view does not have yet is asked again once the posts projector has applied every post created
    before the newest such like: applied unnamed, the like went unchecked against blocks, and a block whose
    reading also ran before the projection left it standing (the fault tests' oracle found one)."""
    seen, fresh = new_id(), new_id()
    view = _PostsView({seen: FRIEND}, {fresh: AUTHOR})
    monkeypatch.setattr(engagement_blocks, "read_posts_cached", view.read)
    projection = _Projection(view, caught_up=True)
    records = [_unnamed(_like(PEST, at=5_000), fresh), _unnamed(_like(FRIEND, at=7_000), fresh),
               _unnamed(_comment(PEST, at=6_000), seen)]
    named = await name_post_authors(records, _Blocks(), object(), projection)  # type: ignore[arg-type]
    assert [r.value["post_author_id"] for r in named] == [AUTHOR, AUTHOR, FRIEND]
    assert projection.asked == [7_000]  # the newest record of an unknown post
    assert view.reads == [sorted([seen, fresh]), [fresh]]  # only the unknown post asked again


async def test_a_post_still_unknown_after_the_wait_or_past_its_bound_leaves_its_likes_unnamed(
        monkeypatch: Any) -> None:
    missing = new_id()
    for caught_up in (True, False):
        view = _PostsView({}, {})
        monkeypatch.setattr(engagement_blocks, "read_posts_cached", view.read)
        projection = _Projection(view, caught_up)
        [like] = await name_post_authors([_unnamed(_like(PEST), missing)], _Blocks(), object(),  # type: ignore[arg-type]
                                         projection)
        assert like.value["post_author_id"] is None and projection.asked == [1_000]
        assert len(view.reads) == (2 if caught_up else 1)


async def test_nothing_waits_when_every_post_is_known_or_every_record_names_its_author(monkeypatch: Any) -> None:
    known = new_id()
    view = _PostsView({known: AUTHOR}, {})
    monkeypatch.setattr(engagement_blocks, "read_posts_cached", view.read)
    projection = _Projection(view, caught_up=True)
    named = await name_post_authors([_unnamed(_like(PEST), known), _like(FRIEND)], _Blocks(), object(),  # type: ignore[arg-type]
                                    projection)
    assert [r.value["post_author_id"] for r in named] == [AUTHOR, AUTHOR] and projection.asked == []
