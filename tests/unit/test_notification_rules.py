"""Notification rules, pure: drafts per event, mentions, the rules, folding a batch, aggregation, ids."""

from __future__ import annotations

import pytest

from photostream.domain.notifications import (
    Group,
    MemberChange,
    Recipient,
    Series,
    Signal,
    aggregate,
    bucket_of,
    drafts_of,
    fold,
    is_read,
    mentioned_usernames,
    notification_id,
    notifies,
    parse_notification_id,
    without_retracted_add,
    without_superseded_retraction,
)
from photostream.domain.safety import Relation
from producers.ids import new_id

A, B, P = new_id(), new_id(), new_id()
HOUR = 3_600_000


def at(event: dict, ms: int = 1_000) -> dict:
    return {"occurred_at": ms, **event}


@pytest.mark.parametrize(("topic", "event", "expected"), [
    ("like-changed", {"post_id": P, "user_id": A, "action": "like"},
     [(Recipient("author_of", P), "like", P, A, True)]),
    ("like-changed", {"post_id": P, "user_id": A, "action": "unlike"},
     [(Recipient("author_of", P), "like", P, A, False)]),
    ("comment-added", {"post_id": P, "user_id": A, "comment_id": new_id(), "text": "nice @Bob_1 and @bob_1"},
     [(Recipient("author_of", P), "comment", P, A, True), (Recipient("username", "bob_1"), "comment_mention", P, A,
                                                          True)]),
    ("post-created", {"post_id": P, "author_id": A, "caption": "with @carol. and mail x@y.com", "image_ids": [],
                      "visibility": "public"},
     [(Recipient("username", "carol"), "mention", P, A, True)]),
    ("follow-changed", {"follower_id": A, "followee_id": B, "action": "follow"},
     [(Recipient("user", B), "follow", B, A, True)]),
    ("follow-changed", {"follower_id": A, "followee_id": B, "action": "unfollow"},
     [(Recipient("user", B), "follow", B, A, False), (Recipient("user", A), "follow_accepted", B, B, False)]),
    ("follow-requested", {"follower_id": A, "followee_id": B, "action": "request"},
     [(Recipient("user", B), "follow_request", B, A, True)]),
    ("follow-requested", {"follower_id": A, "followee_id": B, "action": "approve"},
     [(Recipient("user", B), "follow_request", B, A, False), (Recipient("user", A), "follow_accepted", B, B, True)]),
    ("follow-requested", {"follower_id": A, "followee_id": B, "action": "deny"},
     [(Recipient("user", B), "follow_request", B, A, False)]),
    ("photo-tag-changed", {"post_id": P, "image_id": new_id(), "tagger_id": A, "tagged_id": B, "action": "add",
                           "pending": False},
     [(Recipient("user", B), "tag", P, A, True)]),
    ("photo-tag-changed", {"post_id": P, "image_id": new_id(), "tagger_id": A, "tagged_id": B, "action": "add",
                           "pending": True},
     [(Recipient("user", B), "tag_request", P, A, True)]),
    ("photo-tag-changed", {"post_id": P, "image_id": new_id(), "tagger_id": B, "tagged_id": B, "action": "approve",
                           "pending": False},
     [(Recipient("user", B), "tag_request", P, B, False), (Recipient("user", B), "tag", P, B, True)]),
    ("comment-deleted", {"post_id": P, "user_id": A, "comment_id": new_id(), "actor_id": B, "commented_at": 7},
     [(Recipient("author_of", P), "comment", P, A, False)]),
    ("photo-tag-changed", {"post_id": P, "image_id": new_id(), "tagger_id": A, "tagged_id": B, "action": "remove",
                           "pending": False},
     [(Recipient("user", B), "tag", P, A, False), (Recipient("user", B), "tag_request", P, A, False)]),
])
def test_each_event_drafts_what_it_means_for_whom(topic: str, event: dict, expected: list) -> None:
    drafts = drafts_of(topic, at(event))
    assert [(d.recipient, d.kind, d.target_id, d.actor, d.present) for d in drafts] == expected


def test_an_event_whose_ids_are_not_ids_is_refused() -> None:
    with pytest.raises(ValueError, match="not ids"):
        drafts_of("like-changed", at({"post_id": "x", "user_id": A, "action": "like"}))


@pytest.mark.parametrize(("text", "names"), [
    ("@alice", ["alice"]),
    ("hi @Alice, @bob.smith. @alice", ["alice", "bob.smith"]),
    ("mail me at me@alice.com", []),
    ("@ab too short, @abc ok", ["abc"]),
    ("".join(f"@user{i:03d} " for i in range(30)), [f"user{i:03d}" for i in range(20)]),
    ("@" + "a" * 30 + "9 is no username, @" + "a" * 30 + " is", ["a" * 30]),  # not a longer word's first 30
])
def test_mentions_are_distinct_lower_case_and_bounded(text: str, names: list[str]) -> None:
    assert mentioned_usernames(text) == names


def signal(actor: str = A, recipient: str = B, kind: str = "like", present: bool = True, ms: int = 1_000) -> Signal:
    return Signal(recipient, kind, P if kind in ("like", "mention", "tag") else recipient, actor, present,  # type: ignore[arg-type]
                  ms)


@pytest.mark.parametrize(("s", "relation", "visible", "expected"), [
    (signal(), None, True, True),
    (signal(actor=B), None, True, False),  # one's own action
    (signal(), Relation(i_block=True), True, False),
    (signal(), Relation(blocks_me=True), True, False),
    (signal(), Relation(i_mute=True), True, False),
    (signal(), Relation(mutes_me=True), True, True),  # the actor muting the recipient hides nothing from them
    (signal(kind="mention"), None, False, False),  # a post the recipient may not see
    (signal(kind="follow"), None, False, True),  # not about a post
    (signal(present=False), Relation(i_block=True), False, True),  # retractions always apply
])
def test_the_rules(s: Signal, relation: Relation | None, visible: bool, expected: bool) -> None:
    assert notifies(s, relation, visible) is expected


def test_folding_keeps_one_change_per_actor_with_the_last_word() -> None:
    series = Series(B, "like", P)
    dup, gone = new_id(), new_id()
    changes = {c.actor: c for c in fold([
        signal(A, ms=1), signal(A, present=False, ms=2), signal(A, ms=3),  # relike: retract older, add anew
        signal(dup, ms=5), signal(dup, ms=5),  # a duplicate
        signal(gone, ms=7), signal(gone, present=False, ms=8),  # like then unlike: only a retraction
    ])}
    assert {(a, c.series, c.retract_at, c.add_at) for a, c in changes.items()} == {
        (A, series, 2, 3), (dup, series, None, 5), (gone, series, 8, None)}


def test_a_group_shows_its_latest_actors_and_exact_count() -> None:
    group = Group(Series(B, "like", P), 0)
    members = [(new_id(), ms) for ms in range(1000)]
    item = aggregate(group, members, shown=3)
    assert item is not None
    assert item.actor_count == 1000 and item.updated_at == 999
    assert item.actors == tuple(a for a, _ in reversed(members[-3:]))
    assert aggregate(group, [], shown=3) is None


def test_ids_sort_by_bucket_and_round_trip() -> None:
    early, late = notification_id(bucket_of(5 * HOUR + 7, HOUR), "like", P), notification_id(6 * HOUR, "follow", A)
    assert early < late
    assert parse_notification_id(early) == (5 * HOUR, "like", P)
    for bad in ("", "123.like." + P, f"{6 * HOUR:013d}.poke.{P}", f"{6 * HOUR:013d}.like.nope"):
        with pytest.raises(ValueError):
            parse_notification_id(bad)


def test_an_update_after_the_mark_makes_a_notification_unread_again() -> None:
    assert is_read(100, 100) and not is_read(101, 100)


def test_a_self_removal_of_a_tag_retracts_who_tagged_not_the_remover() -> None:
    author, tagged, post, image = new_id(), new_id(), new_id(), new_id()
    event = {"post_id": post, "image_id": image, "tagger_id": tagged, "tagged_id": tagged, "action": "remove",
             "occurred_at": 5}
    signals = [d.resolved(tagged, target_author=author) for d in drafts_of("photo-tag-changed", event)]
    assert {(s.kind, s.actor, s.present) for s in signals} == {("tag", author, False), ("tag_request", author, False)}
    # the author's own removal retracts the author, as before
    by_author = {**event, "tagger_id": author}
    assert {s.actor for s in (d.resolved(tagged, author) for d in drafts_of("photo-tag-changed", by_author))} == \
        {author}


def test_an_approval_answers_wants_to_tag_you_with_tagged_you_from_who_tagged() -> None:
    """An approved tag kept saying "wants to tag you", unread, for good; now it is answered, and "tagged you"
    names the post's author (the approval is the tagged person's own act)."""
    author, tagged, post = new_id(), new_id(), new_id()
    event = {"post_id": post, "image_id": new_id(), "tagger_id": tagged, "tagged_id": tagged, "action": "approve",
             "pending": False, "occurred_at": 5}
    signals = [d.resolved(tagged, target_author=author) for d in drafts_of("photo-tag-changed", event)]
    assert [(s.kind, s.actor, s.present) for s in signals] == [("tag_request", author, False), ("tag", author, True)]


def test_a_repeated_standing_add_is_marked_and_a_comment_or_a_relike_is_not() -> None:
    like, relike = fold([signal(A, ms=1)]), fold([signal(A, present=False, ms=1), signal(A, ms=2)])
    assert [c.repeats_standing for c in like] == [True]  # a no-op if A likes the post already
    assert [c.repeats_standing for c in relike] == [False]  # retracted first: added anew
    comment = Signal(B, "comment", P, A, True, 1)
    assert [c.repeats_standing for c in fold([comment])] == [False]  # every comment is a new act


def test_a_deleted_comments_retraction_stands_apart_from_the_batchs_adds() -> None:
    """A deletion of an older comment must not cancel a newer comment of the same batch (it did, folded per
    actor with the last word), and it retracts from its own hour."""
    deleted = drafts_of("comment-deleted", {"post_id": P, "user_id": A, "comment_id": new_id(), "actor_id": A,
                                            "commented_at": 2 * HOUR + 5, "occurred_at": 4 * HOUR})[0].resolved(B)
    added = Signal(B, "comment", P, A, True, 3 * HOUR)
    changes = fold([added, deleted])
    assert {(c.retract_at, c.add_at, c.retract_from_at) for c in changes} == {
        (None, 3 * HOUR, None), (4 * HOUR, None, 2 * HOUR + 5)}


def test_each_comment_is_a_change_of_its_own_and_a_deletion_names_its_comment() -> None:
    """Membership of a comment group is per comment: two comments of one writer in one hour are two cells, and a
    deletion withdraws its own (withdrawing the writer, it took the other comment's "commented" with it)."""
    first, second = new_id(), new_id()
    added = [d.resolved(B) for c, ms in ((first, HOUR + 1), (second, HOUR + 2), (first, HOUR + 1))
             for d in drafts_of("comment-added", {"post_id": P, "user_id": A, "comment_id": c, "text": "hi",
                                                  "occurred_at": ms})]
    deleted = drafts_of("comment-deleted", {"post_id": P, "user_id": A, "comment_id": first, "actor_id": A,
                                            "commented_at": HOUR + 1, "occurred_at": HOUR + 9})[0].resolved(B)
    changes = fold([*added, deleted])
    assert {(c.comment_id, c.add_at, c.retract_at, c.retract_from_at) for c in changes} == {
        (second, HOUR + 2, None, None), (first, None, HOUR + 9, HOUR + 1), (first, HOUR + 1, None, None)}
    assert len(changes) == 3  # (the first comment delivered twice: one change)
    assert all(not c.repeats_standing for c in changes)


def test_a_standing_kinds_repeat_after_a_relike_keeps_the_relikes_time_as_one_at_a_time_would() -> None:
    """Follow, unfollow, follow, follow again (a double tap) redelivered in one batch: the member stands from the
    second follow; the fourth is a repeat (it re-stamped the group, unread again, when the batch came back)."""
    follows = [Signal(B, "follow", B, A, present, ms) for present, ms in ((True, 1), (False, 2), (True, 3), (True, 4))]
    [change] = fold(follows)
    assert (change.retract_at, change.add_at) == (2, 3)
    comments = [Signal(B, "comment", P, A, True, ms) for ms in (1, 2)]  # every comment is new: the latest counts
    assert [c.add_at for c in fold(comments)] == [2]


def test_a_same_millisecond_retraction_then_add_keeps_both_in_the_change() -> None:
    """Follow, unfollow, follow in one millisecond: the change retracts and adds at the same time; the sink
    writes the add just above the retraction (a tombstone wins a tie in Cassandra: the latest row vanished)."""
    [change] = fold([Signal(B, "follow", B, A, present, 7) for present in (True, False, True)])
    assert (change.retract_at, change.add_at) == (7, 7)


def test_the_projection_trims_whole_hours_oldest_first_and_never_the_newest() -> None:
    from sinks.notification_lists import bucket_floor, trimmed
    from sinks.notifications import StoredNotification

    hour = 3_600_000

    def rows(*buckets: int) -> list[StoredNotification]:
        made = [StoredNotification("u", notification_id(b * hour, "like", new_id()), "like", "", (), 1, b * hour)
                for b in buckets]
        return sorted(made, key=lambda n: n.id, reverse=True)

    few = rows(1, 2)
    assert trimmed(few, 3) == (few, "")
    kept, floor = trimmed(rows(1, 1, 2, 3, 3), 3)  # hour 1 going is enough
    assert [n.updated_at for n in kept] == [3 * hour, 3 * hour, 2 * hour] and floor == bucket_floor(hour)
    kept, floor = trimmed(rows(1, 2, 2, 3), 2)  # hour 2 cannot be split: it goes whole, with hour 1
    assert [n.updated_at for n in kept] == [3 * hour] and floor == bucket_floor(2 * hour)
    crowded = rows(1, 5, 5, 5, 5)  # the newest hour alone is over the cap: it stays whole
    kept, floor = trimmed(crowded, 3)
    assert len(kept) == 4 and floor == bucket_floor(hour)
    only_newest = rows(5, 5, 5, 5)
    assert trimmed(only_newest, 3) == (only_newest, "")


def test_an_unlike_older_than_the_stored_like_is_dropped_so_a_repeat_stays_a_repeat() -> None:
    series = Series(B, "like", P)
    stale = MemberChange(series, A, retract_at=1_000, add_at=3_000)  # unlike@1s, like@3s; stored: like@2s
    kept = without_superseded_retraction(stale, 2_000_000)
    assert kept == MemberChange(series, A, None, 3_000) and kept.repeats_standing
    assert without_superseded_retraction(MemberChange(series, A, 1_000, None), 2_000_000) is None
    newer = MemberChange(series, A, retract_at=2_500, add_at=3_000)  # an unlike after the stored like stands
    assert without_superseded_retraction(newer, 2_000_000) is newer
    assert without_superseded_retraction(stale, None) is stale  # nothing stored: nothing to compare with
    tied = MemberChange(series, A, retract_at=2_000, add_at=None)  # the same millisecond: the retraction stands
    assert without_superseded_retraction(tied, 2_000_000) is tied


def test_an_add_older_than_a_stored_retraction_is_dropped() -> None:
    series = Series(B, "like", P)
    late_like = MemberChange(series, A, None, 1_000)  # like@1s, delivered after the unlike@2s was applied
    assert without_retracted_add(late_like, 2_000) is None
    both = MemberChange(series, A, retract_at=500, add_at=1_000)  # its retraction still applies (timestamped)
    assert without_retracted_add(both, 2_000) == MemberChange(series, A, 500, None)
    assert without_retracted_add(late_like, None) is late_like  # nothing retracted: nothing to compare with
    assert without_retracted_add(late_like, 1_000) is late_like  # the same millisecond: applied after it, it stands
    assert without_retracted_add(MemberChange(series, A, 3_000, None), 2_000) == MemberChange(series, A, 3_000, None)
