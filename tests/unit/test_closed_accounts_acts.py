"""Follows and follow requests by or to a deleted account are retracted by their processors once written."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from producers.ids import new_id
from sinks.accounts_requests import RequestChange
from sinks.graph import FollowChange
from streams import closed_accounts_acts, photo_tags, projector
from streams.closed_accounts_acts import denial_of, retract_acts_of_closed_accounts, unfollow_of
from streams.engine.records import Record
from streams.follow_requests import FollowRequestsProjector
from tests.unit.publisher_fakes import AckingPublisher

LEAVER, FRIEND, OTHER, THIRD = new_id(), new_id(), new_id(), new_id()


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The accounts each closed-account check asked about; LEAVER's deletion was accepted."""
    questions: list[set[str]] = []

    async def closed_among(redis: Any, session: Any, users: Iterable[str]) -> set[str]:
        questions.append(set(users))
        return {LEAVER} & set(users)

    monkeypatch.setattr(closed_accounts_acts, "closed_among", closed_among)
    return questions


def test_a_retraction_is_one_millisecond_later_with_an_id_derived_from_the_act() -> None:
    follow = FollowChange(LEAVER, FRIEND, True, 5_000, new_id())
    unfollow = unfollow_of(follow)
    assert (unfollow.topic, unfollow.value["action"], unfollow.value["occurred_at"]) == ("follow-changed",
                                                                                         "unfollow", 5_001)
    assert (unfollow.value["follower_id"], unfollow.value["followee_id"]) == (LEAVER, FRIEND)
    assert unfollow_of(follow).value["event_id"] == unfollow.value["event_id"] != follow.event_id  # (a retry)
    request = RequestChange(FRIEND, LEAVER, True, 7_000, new_id())
    denial = denial_of(request)
    assert (denial.topic, denial.value["action"], denial.value["occurred_at"]) == ("follow-requested", "deny", 7_001)
    assert denial_of(request).value["event_id"] == denial.value["event_id"]


async def test_only_acts_by_or_to_a_closed_account_are_retracted(asked: list[set[str]]) -> None:
    publisher = AckingPublisher()
    by_leaver = FollowChange(LEAVER, FRIEND, True, 1, new_id())
    of_leaver = FollowChange(FRIEND, LEAVER, True, 2, new_id())
    others = FollowChange(FRIEND, OTHER, True, 3, new_id())
    assert await retract_acts_of_closed_accounts([by_leaver, of_leaver, others], unfollow_of, object(), object(),
                                                 publisher, 1.0) == 2  # type: ignore[arg-type]
    assert [(e.value["follower_id"], e.value["followee_id"]) for e in publisher.sent] == [(LEAVER, FRIEND),
                                                                                         (FRIEND, LEAVER)]
    assert asked == [{LEAVER, FRIEND, OTHER}]
    assert await retract_acts_of_closed_accounts([], unfollow_of, object(), object(), publisher, 1.0) == 0  # type: ignore[arg-type]
    assert await retract_acts_of_closed_accounts([by_leaver], unfollow_of, object(), object(), None, 1.0) == 0
    assert len(asked) == 1 and len(publisher.sent) == 2  # (nothing to ask, or no publisher: not asked)


class _Requests:
    session = object()

    def __init__(self) -> None:
        self.applied: list[RequestChange] = []

    async def apply(self, changes: list[RequestChange]) -> None:
        self.applied.extend(changes)


async def test_the_follow_requests_processor_denies_a_request_by_a_deleted_account_once_written(
        asked: list[set[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    async def advance_all(*_: Any) -> None:
        return None

    monkeypatch.setattr("streams.follow_requests.offsets.advance_all", advance_all)
    requests, publisher = _Requests(), AckingPublisher()
    projector = FollowRequestsProjector(requests, object(), publisher, 1.0)  # type: ignore[arg-type]

    def requested(follower: str, followee: str, action: str = "request") -> Record:
        return Record("follow-requested", 0, 0, None, {"event_id": new_id(), "occurred_at": 9_000,
                                                        "follower_id": follower, "followee_id": followee,
                                                        "action": action})

    def refused(record: object, error: Exception) -> None:
        raise AssertionError(error)

    await projector.process([requested(LEAVER, FRIEND), requested(FRIEND, OTHER), requested(THIRD, LEAVER, "deny")],
                            refused)
    assert len(requests.applied) == 3  # written first: the denial follows it
    [denial] = publisher.sent
    assert (denial.value["follower_id"], denial.value["followee_id"], denial.value["action"]) == (LEAVER, FRIEND,
                                                                                                 "deny")
    assert asked == [{LEAVER, FRIEND, OTHER}]  # (the answer needs no denial, its people are not asked about)


class _TagWriter:
    session = object()

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls

    async def apply(self, changes: list[Any]) -> None:
        self.calls.append(f"write {len(changes)}")

    async def purge_post(self, post_id: str, at: int) -> None:
        self.calls.append("purge post")

    async def purge_user(self, user_id: str, at: int) -> None:
        self.calls.append(f"purge {user_id}")


async def test_the_tags_processor_marks_a_deletion_before_its_purge_and_removes_a_new_tag_of_a_closed_account(
        asked: list[set[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Mark, then read (the purge); write, then ask (the new tag): one of the two finds a tag in flight."""
    calls: list[str] = []

    class _Ledger:
        def __init__(self, session: Any, redis: Any) -> None:
            pass

        async def revoke(self, kind: str, user_id: str, ttl_s: int | None) -> int:
            calls.append(f"mark {user_id} {kind} {ttl_s}")
            return 0

    async def nothing(*_: Any, **__: Any) -> Any:
        return None

    monkeypatch.setattr(photo_tags, "RevocationLedger", _Ledger)
    monkeypatch.setattr(photo_tags, "without_engagement_across_blocks", lambda records, _: _async(records))
    monkeypatch.setattr(photo_tags, "retract_raced_engagement", nothing)
    monkeypatch.setattr(photo_tags.offsets, "advance_all", nothing)

    class _Tagged:
        async def add(self, posts: Any) -> None:
            list(posts)

    publisher = AckingPublisher()
    processor = photo_tags.PhotoTagsProcessor(_TagWriter(calls), object(), None, publisher, 1.0)  # type: ignore[arg-type]
    processor._tagged = _Tagged()  # type: ignore[assignment]

    def tag(tagged: str) -> Record:
        return Record("photo-tag-changed", 0, 0, None, {
            "event_id": new_id(), "occurred_at": 9_000, "post_id": new_id(), "image_id": new_id(),
            "tagger_id": FRIEND, "tagged_id": tagged, "action": "add", "x": 0.5, "y": 0.5, "pending": False})

    deletion = Record("account-deleted", 0, 0, None, {"event_id": new_id(), "occurred_at": 9_500, "user_id": OTHER})
    await processor.process([tag(LEAVER), tag(THIRD), deletion], lambda record, error: None)
    assert calls == ["write 2", f"mark {OTHER} account None", f"purge {OTHER}"]
    [removal] = publisher.sent
    assert (removal.value["tagged_id"], removal.value["action"]) == (LEAVER, "remove")  # (THIRD is not closed)


async def _async(value: Any) -> Any:
    return value


async def test_the_posts_projector_deletes_a_post_of_a_closed_account_once_written_and_before_its_marks_move(
        asked: list[set[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[Any] = []

    class _Sink:
        async def apply_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
            sent.append(("written", len(events)))

    async def advance_all(*_: Any) -> None:
        sent.append(("marks",))

    monkeypatch.setattr(projector.offsets, "advance_all", advance_all)

    class _Recording(AckingPublisher):
        async def acknowledged(self, events: list[Any], timeout_s: float) -> dict[tuple[str, int], int]:
            sent.append(("deleted", [e.value["post_id"] for e in events]))
            return await super().acknowledged(events, timeout_s)

    publisher = _Recording()
    posts = projector.PostsProjector(_Sink(), object(), object(), publisher, 1.0)  # type: ignore[arg-type]

    def created(author: str) -> Record:
        return Record("post-created", 0, 0, None, {"event_id": new_id(), "occurred_at": 4_000, "post_id": new_id(),
                                                   "author_id": author})

    late, kept = created(LEAVER), created(FRIEND)
    await posts.process([late, kept], lambda record, error: None)
    assert sent == [("written", 2), ("deleted", [late.value["post_id"]]), ("marks",)]
    [deletion] = publisher.sent
    assert (deletion.topic, deletion.value["author_id"], deletion.value["occurred_at"]) == ("post-deleted", LEAVER,
                                                                                            4_001)
    assert asked == [{LEAVER, FRIEND}]
