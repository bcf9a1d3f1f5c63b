"""What an account deletion publishes: one retraction per post, follow edge (both ways) and like, valid events
with ids derived from the deletion, so a replay re-emits the same facts and an empty footprint emits nothing."""

from __future__ import annotations

from photostream.domain.account_purge import Deletion, Footprint, retractions
from producers.events import event_type
from producers.ids import new_id

USER, FAN, IDOL, POST, LIKED = (new_id() for _ in range(5))
DELETION = Deletion(new_id(), USER, 1_700_000_000_000)


def test_every_post_follow_edge_and_like_is_retracted_as_a_valid_event_at_the_deletions_time() -> None:
    found = retractions(DELETION, Footprint(posts=[POST], following=[IDOL], followers=[FAN], liked_posts=[LIKED]))
    built = [event_type(topic).build(fields) for topic, fields in found]  # schema and domain rules pass
    assert [(e.topic, e.key) for e in built] == [
        ("post-deleted", USER), ("follow-changed", IDOL), ("follow-changed", USER), ("like-changed", LIKED)]
    assert [e.value.get("action") for e in built] == [None, "unfollow", "unfollow", "unlike"]
    assert (built[1].value["follower_id"], built[2].value["follower_id"]) == (USER, FAN)
    assert {e.value["occurred_at"] for e in built} == {DELETION.occurred_at}
    assert len({e.event_id for e in built}) == 4


def test_every_comment_is_deleted_by_its_author_as_an_event_keyed_by_its_post() -> None:
    """Comments leave through comment-deleted (keyed by post, so the post's owner loop applies it), not by a
    direct delete raced by the popularity processor's read-modify-write of the count."""
    on_post, comment = new_id(), new_id()
    found = retractions(DELETION, Footprint([], [], [], [], comments=[(on_post, comment, 1_600_000_000_000)]))
    [event] = [event_type(topic).build(fields) for topic, fields in found]
    assert (event.topic, event.key) == ("comment-deleted", on_post)
    assert (event.value["comment_id"], event.value["user_id"], event.value["actor_id"]) == (comment, USER, USER)
    assert event.value["commented_at"] == 1_600_000_000_000
    assert not Footprint([], [], [], [], comments=[(on_post, comment, 1)]).empty


def test_a_replay_re_derives_the_same_ids_and_another_deletion_does_not() -> None:
    footprint = Footprint([POST], [IDOL], [FAN], [LIKED])
    first = [f["event_id"] for _, f in retractions(DELETION, footprint)]
    assert first == [f["event_id"] for _, f in retractions(DELETION, footprint)]
    other = Deletion(new_id(), USER, DELETION.occurred_at)
    assert not set(first) & {f["event_id"] for _, f in retractions(other, footprint)}


def test_nothing_left_publishes_nothing_and_a_self_edge_is_never_emitted() -> None:
    assert retractions(DELETION, Footprint([], [], [], [])) == []
    assert Footprint([], [], [], []).empty
    assert retractions(DELETION, Footprint([], [USER], [USER], [])) == []


def test_every_request_it_sent_that_still_waits_is_withdrawn_as_a_denial_keyed_by_the_account_asked() -> None:
    """As an unfollow withdraws a pending request: its owner's list and "wants to follow you" follow."""
    found = retractions(DELETION, Footprint([], [], [], [], requested=[IDOL, USER]))
    [event] = [event_type(topic).build(fields) for topic, fields in found]  # (never a request to itself)
    assert (event.topic, event.key) == ("follow-requested", IDOL)
    assert (event.value["follower_id"], event.value["action"]) == (USER, "deny")
    assert not Footprint([], [], [], [], requested=[IDOL]).empty
