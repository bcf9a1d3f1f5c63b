"""Engagement counts are set transitions: duplicates and replays change nothing."""

from photostream.domain.engagement import Engagement

_ids = iter(range(10**6))


def like(user: str, action: str = "like") -> dict:
    """A change made after every earlier one of the test (its event id sorts after theirs)."""
    return {"user_id": user, "action": action, "occurred_at": 1, "event_id": f"{next(_ids):06d}"}


def test_likes_toggle_per_user_and_duplicates_do_not_count():
    state = Engagement("p")
    assert state.apply("like-changed", like("u1"))
    assert not state.apply("like-changed", like("u1"))
    assert state.apply("like-changed", like("u2"))
    assert state.apply("like-changed", like("u1", "unlike"))
    assert not state.apply("like-changed", like("u1", "unlike"))
    assert not state.apply("like-changed", like("u3", "unlike"))  # never liked
    assert state.like_count == 1
    # u3's unlike counts nothing but is kept (with its time and id): an older like arriving later loses to it
    assert state.changed_likes == {"u1": False, "u2": True, "u3": False}


def test_comments_count_once_per_comment_id():
    state = Engagement("p", comments={"c0": True}, comment_count=1)
    assert not state.apply("comment-added", {"comment_id": "c0"})
    assert state.apply("comment-added", {"comment_id": "c1"})
    assert not state.apply("comment-added", {"comment_id": "c1"})
    assert state.comment_count == 2 and state.changed_comments == {"c1": True}


def test_a_deleted_comment_uncounts_once_and_never_counts_again():
    state = Engagement("p", comments={"c0": True}, comment_count=1)
    assert state.apply("comment-deleted", {"comment_id": "c0"})
    assert not state.apply("comment-deleted", {"comment_id": "c0"})  # a duplicate
    assert not state.apply("comment-added", {"comment_id": "c0"})  # a replay of its add
    assert state.comment_count == 0 and state.changed_comments == {"c0": False}


def test_a_deletion_seen_before_its_comment_is_remembered():
    """The two topics are not ordered against each other: the delete can come first, and the add never counts."""
    state = Engagement("p")
    assert not state.apply("comment-deleted", {"comment_id": "c1"})
    assert state.changed_comments == {"c1": False}  # remembered: written, so a later batch knows it too
    restarted = Engagement("p", comments={"c1": False})
    assert not restarted.apply("comment-added", {"comment_id": "c1"})
    assert restarted.comment_count == 0


def timed(user: str, action: str, at: int) -> dict:
    return {"user_id": user, "action": action, "occurred_at": at, "event_id": f"{next(_ids):06d}"}


def test_a_users_likes_resolve_by_their_time_not_their_arrival():
    """An unlike at t=2 then a like from t=1 arriving after it (a DLQ redrive, a late retry): not liked."""
    state = Engagement("p")
    assert not state.apply("like-changed", timed("u1", "unlike", 2))  # never liked: nothing to count…
    assert not state.apply("like-changed", timed("u1", "like", 1))  # …and the older like loses to it
    assert state.like_count == 0 and state.likes == {"u1": False} and state.like_times == {"u1": 2}
    assert state.changed_likes == {"u1": False}  # the unlike's time is kept, so it wins after a restart too
    assert state.apply("like-changed", timed("u1", "like", 3))
    assert not state.apply("like-changed", timed("u1", "unlike", 2))
    assert not state.apply("like-changed", timed("u1", "like", 4))  # the same answer, newer: its time kept
    assert not state.apply("like-changed", timed("u1", "unlike", 3))
    assert state.like_count == 1 and state.like_times == {"u1": 4}
    restarted = Engagement("p", like_count=1, likes={"u1": True}, like_times={"u1": 4})
    assert not restarted.apply("like-changed", timed("u1", "unlike", 3)) and restarted.like_count == 1


def test_changes_of_the_same_millisecond_apply_in_log_order():
    """One client's like, unlike and like again within a millisecond (a fast producer): the log order is the
    real one (an "unlike wins ties" rule lost the last like)."""
    state = Engagement("p")
    for action in ("like", "unlike", "like"):
        state.apply("like-changed", timed("u1", action, 7))
    assert (state.like_count, state.likes) == (1, {"u1": True})


def test_a_copy_of_an_earlier_change_of_the_same_millisecond_does_not_flip_the_answer():
    """Like then unlike in one millisecond, then the like again as a re-send (same event, same id) or a partial
    replay: the unlike still stands, in either arrival order of the two."""
    liked, unliked = timed("u1", "like", 5), timed("u1", "unlike", 5)
    for order in ((liked, unliked, liked), (unliked, liked, unliked, liked), (liked, unliked, unliked, liked)):
        state = Engagement("p")
        for change in order:
            state.apply("like-changed", change)
        assert state.likes == {"u1": False} and state.like_count == 0
        assert state.like_events == {"u1": unliked["event_id"]}
