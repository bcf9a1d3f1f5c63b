"""Blocks, mutes and reports: the pure rules, the processor's ordering, and the events they produce."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import streams.safety
from api.visibility import visible_posts
from photostream.domain.safety import (
    REPORT_REASONS,
    CommentAcross,
    Relation,
    ReportReason,
    SafetyChange,
    blocked_either_way,
    comment_deletions_of_block,
    muted_tags_hidden,
    reads_of_block,
    request_closings_of_block,
    safety_change,
    skip_in_fan_out,
    unfollows_of_block,
    unlikes_of_block,
)
from photostream.domain.visibility import may_see
from producers import events
from producers.ids import last_id_at, new_id
from producers.validation import EventValidationError
from sinks import keys
from streams.engine.records import Record
from streams.safety import SafetyProcessor
from tests.unit.counting_fakes import CountingRedis

A, B = new_id(), new_id()
T = 1_700_000_000_000


@pytest.mark.parametrize(("visibility", "follows", "private"), [
    ("public", False, False), ("public", True, False), ("followers", True, False), ("public", True, True),
])
def test_a_block_either_way_hides_every_post_however_visible(visibility: str, follows: bool, private: bool) -> None:
    assert may_see(A, B, visibility, follows, private) is True
    assert may_see(A, B, visibility, follows, private, blocked=True) is False


def test_a_block_never_hides_your_own_posts() -> None:
    assert may_see(A, A, "public", blocked=True) is True


@pytest.mark.parametrize(("relation", "blocked", "skipped"), [
    (Relation(), False, False),
    (Relation(i_block=True), True, True),
    (Relation(blocks_me=True), True, True),
    (Relation(mutes_me=True), False, True),  # the follower muted the author: no push, and no block
    (Relation(i_mute=True), False, False),  # the author muted the follower: the follower still gets the post
])
def test_which_relations_block_and_which_skip_fan_out(relation: Relation, blocked: bool, skipped: bool) -> None:
    assert blocked_either_way(relation) is blocked
    assert skip_in_fan_out(relation) is skipped


def test_a_block_event_becomes_a_change_and_bad_ones_are_refused() -> None:
    change = safety_change("block", {"actor_id": A, "target_id": B, "action": "on", "occurred_at": T})
    assert change == SafetyChange("block", A, B, True, T)
    with pytest.raises(ValueError, match="target_id"):
        safety_change("block", {"actor_id": A, "target_id": A, "action": "on", "occurred_at": T})
    with pytest.raises(ValueError, match="target_id"):
        safety_change("mute", {"actor_id": A, "target_id": "bob", "action": "on", "occurred_at": T})
    with pytest.raises(ValueError, match="target_kind"):
        safety_change("block", {"actor_id": A, "target_id": "sunset", "action": "on", "occurred_at": T,
                                "target_kind": "hashtag"})
    tag = safety_change("mute", {"actor_id": A, "target_id": "sunset", "action": "off", "occurred_at": T,
                                 "target_kind": "hashtag"})
    assert (tag.target_kind, tag.on) == ("hashtag", False)


def test_a_block_ends_both_follows_at_its_own_time_with_stable_ids() -> None:
    block = SafetyChange("block", A, B, True, T)
    first, again = unfollows_of_block(block, "evt-1"), unfollows_of_block(block, "evt-1")
    assert first == again  # a replay re-emits the same events
    assert {(u["follower_id"], u["followee_id"]) for u in first} == {(A, B), (B, A)}
    assert all(u["action"] == "unfollow" and u["occurred_at"] == T for u in first)
    assert len({u["event_id"] for u in first + unfollows_of_block(block, "evt-2")}) == 4
    assert unfollows_of_block(SafetyChange("block", A, B, False, T), "evt-3") == []  # unblock restores nothing
    assert unfollows_of_block(SafetyChange("mute", A, B, True, T), "evt-4") == []
    for fields in first:  # they are valid follow-changed events
        events.build("follow-changed", fields)


def test_a_block_closes_both_follow_requests_at_its_own_time_with_ids_of_their_own() -> None:
    block = SafetyChange("block", A, B, True, T)
    closings = request_closings_of_block(block, "evt-1")
    assert closings == request_closings_of_block(block, "evt-1")  # a replay re-emits the same events
    assert {(c["follower_id"], c["followee_id"]) for c in closings} == {(A, B), (B, A)}
    assert all(c["action"] == "deny" and c["occurred_at"] == T for c in closings)
    assert not {c["event_id"] for c in closings} & {u["event_id"] for u in unfollows_of_block(block, "evt-1")}
    assert request_closings_of_block(SafetyChange("block", A, B, False, T), "evt-2") == []
    assert request_closings_of_block(SafetyChange("mute", A, B, True, T), "evt-3") == []
    for fields in closings:
        events.build("follow-requested", fields)


def test_mute_events_name_a_user_or_a_normalised_tag() -> None:
    assert events.mute_changed(actor_id=A, target_id="sunset", action="on",
                               target_kind="hashtag").value["target_kind"] == "hashtag"
    with pytest.raises(EventValidationError) as bad:
        events.mute_changed(actor_id=A, target_id="Sun Set", action="on", target_kind="hashtag")
    assert bad.value.field == "target_id"
    with pytest.raises(EventValidationError):
        events.mute_changed(actor_id=A, target_id=A, action="on")


def test_report_reasons_are_one_fixed_list_and_details_are_optional() -> None:
    assert set(REPORT_REASONS) == set(ReportReason.__args__)  # type: ignore[attr-defined]
    event = events.content_reported(reporter_id=A, target_kind="post", target_id=B, reason="spam")
    assert event.value["details"] is None and event.key == B


def test_muted_tags_leave_a_list_in_order() -> None:
    assert muted_tags_hidden(["a", "b", "c"], {"b"}) == ["a", "c"]


class Audience:
    def __init__(self, blocks: set[tuple[str, str]]) -> None:
        self.blocks, self.block_reads = blocks, 0

    async def followed_among(self, follower: str, candidates: Any) -> set[str]:
        return set()

    async def private_among(self, user_ids: Any) -> set[str]:
        return set()

    async def blocked_among(self, user_id: str, others: Any) -> set[str]:
        self.block_reads += 1
        return {o for o in others if (user_id, o) in self.blocks or (o, user_id) in self.blocks}


def test_a_page_checks_blocks_once_and_hides_both_directions() -> None:
    posts = [{"author_id": "blocked", "visibility": "public"}, {"author_id": "blocker", "visibility": "public"},
             {"author_id": "other", "visibility": "public"}, {"author_id": "blocked", "visibility": "public"}]
    audience = Audience({(A, "blocked"), ("blocker", A)})
    assert asyncio.run(visible_posts(audience, A, posts)) == [None, None, posts[2], None]
    assert audience.block_reads == 1
    assert asyncio.run(visible_posts(audience, None, posts)) == posts  # anonymous: nobody blocked them
    assert audience.block_reads == 1


class Writer:
    session = None

    def __init__(self, log: list[str]) -> None:
        self.log, self.applied, self.forgotten = log, [], []  # type: ignore[var-annotated]

    async def apply(self, changes: Any) -> None:
        self.applied += list(changes)
        self.log.append("write")

    async def forget_pairs(self, pairs: Any) -> None:
        self.forgotten += list(pairs)
        self.log.append("forget")


def closed_accounts(monkeypatch: pytest.MonkeyPatch, closed: set[str]) -> list[set[str]]:
    """``closed_among`` answering ``closed``; returns the sets of users it was asked about."""
    asked: list[set[str]] = []

    async def closed_among(redis: Any, session: Any, users: Any) -> set[str]:
        asked.append(set(users))
        return closed & asked[-1]
    monkeypatch.setattr(streams.safety, "closed_among", closed_among)
    return asked


class Publisher:
    def __init__(self, log: list[str]) -> None:
        self.log, self.sent = log, []  # type: ignore[var-annotated]

    async def acknowledged(self, sent: list[events.Event], timeout_s: float) -> dict[tuple[str, int], int]:
        self.sent += sent
        if sent:
            self.log.append("acknowledged")
        return {(event.topic, 0): offset for offset, event in enumerate(self.sent)}


def record(topic: str, offset: int, **value: Any) -> Record:
    return Record(topic, 0, offset, None, {"event_id": new_id(), "occurred_at": T, "actor_id": A, "target_id": B,
                                           "action": "on"} | value)


async def test_the_processor_stores_toggles_ends_follows_then_marks_offsets(monkeypatch: pytest.MonkeyPatch) -> None:
    closed_accounts(monkeypatch, set())
    log: list[str] = []
    writer, publisher, redis = Writer(log), Publisher(log), CountingRedis()

    def mark(*args: Any) -> int:
        log.append("marked")
        return 1
    redis._eval = mark  # type: ignore[method-assign]
    block, mute, bad = record("block-changed", 1), record("mute-changed", 2), record("block-changed", 3, target_id=A)
    rejected: list[Record] = []
    await SafetyProcessor(writer, publisher, redis).process(  # type: ignore[arg-type]
        [block, mute, bad], lambda r, e: rejected.append(r))
    assert [(c.kind, c.on) for c in writer.applied] == [("block", True), ("mute", True)]
    assert rejected == [bad]
    parties = {"follow-changed": ("follower_id", "followee_id"), "follow-requested": ("follower_id", "followee_id"),
               "MESSAGES_READ": ("user_id", "sender_id")}
    assert sorted((e.topic, *(e.value[f] for f in parties[e.topic])) for e in publisher.sent) == sorted(
        (topic, *pair) for topic in parties for pair in ((A, B), (B, A)))
    assert log[:2] == ["write", "acknowledged"] and set(log[2:]) == {"marked"}  # acknowledged before the marks
    # where the derived events landed is kept with the marks, for the span of the batch's records it came from
    (places,) = redis.sorted_sets[keys.derived_offsets("safety", "block-changed", 0)]
    low, _, landed = places.partition("|")
    assert low == "1" and landed.split(",") == sorted(
        f"{topic}:0:{offset}" for topic, offset in {e.topic: i for i, e in enumerate(publisher.sent)}.items())


async def test_the_pairs_of_a_deleted_account_are_forgotten_once_written(monkeypatch: pytest.MonkeyPatch) -> None:
    """A block or mute of (or by) an account whose deletion was accepted meanwhile: both rows of the pair go after
    the write (the purge may have read the account's pairs before it); the others' pairs stay."""
    c = new_id()
    asked = closed_accounts(monkeypatch, {B})
    log: list[str] = []
    writer, redis = Writer(log), CountingRedis()
    redis._eval = lambda *args: 1  # type: ignore[method-assign]
    batch = [record("block-changed", 1), record("mute-changed", 2, actor_id=c, target_id=A),
             record("mute-changed", 3, actor_id=B, target_id=c, action="off"),
             record("mute-changed", 4, target_kind="hashtag", target_id="sunset")]
    await SafetyProcessor(writer, Publisher(log), redis).process(  # type: ignore[arg-type]
        batch, lambda r, e: pytest.fail(f"rejected: {e}"))
    assert asked == [{A, B, c}]  # one question for the batch, about users only (not the hashtag)
    assert writer.forgotten == [(A, B), (B, c)]
    assert log[:2] == ["write", "forget"]


def test_a_block_ends_each_sides_likes_of_the_others_posts_with_stable_ids() -> None:
    block = SafetyChange("block", A, B, True, T)
    likes = [(B, "p1"), (A, "p2")]
    unlikes = unlikes_of_block(block, "evt-1", likes)
    assert unlikes == unlikes_of_block(block, "evt-1", likes)  # a replay re-emits the same events
    assert [(u["user_id"], u["post_id"], u["action"], u["occurred_at"]) for u in unlikes] == [
        (B, "p1", "unlike", T), (A, "p2", "unlike", T)]
    assert unlikes_of_block(SafetyChange("block", A, B, False, T), "evt-2", likes) == []  # an unblock likes nothing
    assert unlikes_of_block(SafetyChange("mute", A, B, True, T), "evt-3", likes) == []


def test_a_block_deletes_each_sides_comments_on_the_others_posts_as_the_blocker() -> None:
    block = SafetyChange("block", A, B, True, T)
    comments = [CommentAcross(B, "p1", "c1", T - 5), CommentAcross(A, "p2", "c2", T - 9)]
    deleted = comment_deletions_of_block(block, "evt-1", comments)
    assert deleted == comment_deletions_of_block(block, "evt-1", comments)  # a replay re-emits the same events
    assert [(d["user_id"], d["post_id"], d["comment_id"], d["actor_id"], d["occurred_at"], d["commented_at"])
            for d in deleted] == [(B, "p1", "c1", A, T, T - 5), (A, "p2", "c2", A, T, T - 9)]
    assert comment_deletions_of_block(SafetyChange("block", A, B, False, T), "evt-2", comments) == []
    # a comment written after the block (after an unblock; the block re-delivered or replayed) stays
    assert comment_deletions_of_block(block, "evt-1", [CommentAcross(B, "p1", "c3", T + 1)]) == []
    assert comment_deletions_of_block(SafetyChange("mute", A, B, True, T), "evt-3", comments) == []


def test_a_block_marks_each_sides_messages_from_the_other_read_up_to_its_time() -> None:
    """Whatever the badges hold when it is applied: a message sent before the block but delivered after it
    found no mark and counted."""
    block = SafetyChange("block", A, B, True, T)
    m1 = f"{T - 2:012x}"[:8] + "-" + f"{T - 2:012x}"[8:] + "-7000-8000-000000000002"  # written before the block
    reads = reads_of_block(block, "evt-1")
    assert reads == reads_of_block(block, "evt-1")  # a replay re-emits the same events
    assert [(r["user_id"], r["sender_id"], r["read_up_to_msg_id"], r["occurred_at"]) for r in reads] == [
        (A, B, last_id_at(T), T), (B, A, last_id_at(T), T)]
    assert reads_of_block(SafetyChange("block", A, B, False, T), "evt-2") == []
    assert reads_of_block(SafetyChange("mute", A, B, True, T), "evt-3") == []
    # a message written after the block (the block applied late, replayed or re-delivered after an unblock) is
    # not the block's to end: the mark stops at the block's millisecond
    later = "ffffffff-ffff-7fff-bfff-ffffffffffff"
    after = f"{T + 1:012x}"[:8] + "-" + f"{T + 1:012x}"[8:] + "-7000-8000-000000000000"  # the next ms's first
    assert m1 < last_id_at(T) < after < later  # a message of the next millisecond stays unread after the mark
    assert unread_after(m1, after, last_id_at(T)) and not unread_after(m1, m1, last_id_at(T))



def unread_after(read_before: str, newest_unsent: str, block_mark: str) -> bool:
    """Is a pair unread once the block's read mark applies?"""
    from photostream.domain.unread import PairMarks

    return PairMarks(newest_unsent, max(read_before, block_mark)).unread


def test_a_block_removes_each_sides_tags_on_the_others_photos_silently() -> None:
    from photostream.domain.safety import TagAcross, untags_of_block
    from producers.events import build

    block = SafetyChange("block", A, B, True, T)
    tags = [TagAcross(B, new_id(), new_id()), TagAcross(A, new_id(), new_id())]
    removals = untags_of_block(block, "evt-1", tags)
    assert removals == untags_of_block(block, "evt-1", tags)  # a replay re-emits the same events
    assert [(r["tagged_id"], r["tagger_id"], r["post_id"], r["image_id"], r["action"], r["occurred_at"])
            for r in removals] == [(t.tagged, t.tagged, t.post_id, t.image_id, "remove", T) for t in tags]
    for fields in removals:  # valid events, as the safety processor publishes them
        assert build("photo-tag-changed", fields).value["action"] == "remove"
    assert untags_of_block(SafetyChange("block", A, B, False, T), "evt-2", tags) == []
    assert untags_of_block(SafetyChange("mute", A, B, True, T), "evt-3", tags) == []


def test_a_block_found_standing_ends_follows_at_that_moment_and_one_lifted_since_keeps_its_own_time() -> None:
    """A follow applied as the block was being written (an approval racing it) was later than the block, and
    outlived the block's unfollow at the block's time."""
    from photostream.domain.safety import SafetyChange, unfollows_of_block

    block = SafetyChange("block", "a" * 32, "b" * 32, True, 1_000)
    assert {u["occurred_at"] for u in unfollows_of_block(block, "e")} == {1_000}  # lifted since: its own time
    assert {u["occurred_at"] for u in unfollows_of_block(block, "e", standing_at=5_000)} == {5_000}
    assert {u["occurred_at"] for u in unfollows_of_block(block, "e", standing_at=500)} == {1_000}  # never earlier
    assert [u["event_id"] for u in unfollows_of_block(block, "e", 5_000)] == \
        [u["event_id"] for u in unfollows_of_block(block, "e")]  # the same facts, whenever derived


def test_likes_comments_and_tags_racing_a_standing_block_end_with_it_and_later_ones_after_an_unblock_stay() -> None:
    from photostream.domain.safety import (
        CommentAcross,
        SafetyChange,
        TagAcross,
        comment_deletions_of_block,
        unlikes_of_block,
        untags_of_block,
    )

    block = SafetyChange("block", "a" * 32, "b" * 32, True, 1_000)
    racing = CommentAcross("b" * 32, "p" * 32, "c" * 32, 1_200)  # written just after the block, before its row
    assert comment_deletions_of_block(block, "e", [racing]) == []  # lifted since: not its to delete
    deleted = comment_deletions_of_block(block, "e", [racing], standing_at=5_000)
    assert [(d["comment_id"], d["occurred_at"]) for d in deleted] == [("c" * 32, 5_000)]
    assert [u["occurred_at"] for u in unlikes_of_block(block, "e", [("b" * 32, "p" * 32)], 5_000)] == [5_000]
    assert [u["occurred_at"] for u in untags_of_block(block, "e", [TagAcross("b" * 32, "p" * 32, "i")], 5_000)] \
        == [5_000]


def test_only_likes_and_new_comments_with_a_known_post_author_are_checked_against_blocks() -> None:
    from streams.engagement_blocks import engagement_pair

    liker, author = "l" * 32, "a" * 32
    assert engagement_pair("like-changed", {"action": "like", "user_id": liker, "post_author_id": author}) == (
        liker, author)
    assert engagement_pair("comment-added", {"user_id": liker, "post_author_id": author}) == (liker, author)
    assert engagement_pair("like-changed", {"action": "unlike", "user_id": liker, "post_author_id": author}) is None
    assert engagement_pair("comment-deleted", {"user_id": liker, "post_author_id": author}) is None
    assert engagement_pair("like-changed", {"action": "like", "user_id": liker, "post_author_id": None}) is None
    assert engagement_pair("comment-added", {"user_id": author, "post_author_id": author}) is None  # their own
