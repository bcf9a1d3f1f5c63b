"""Engagement counts are set transitions: duplicates and replays change nothing."""

from photostream.domain.engagement import Engagement


def like(user: str, action: str = "like") -> dict:
    return {"user_id": user, "action": action}


def test_likes_toggle_per_user_and_duplicates_do_not_count():
    state = Engagement("p")
    assert state.apply("like-changed", like("u1"))
    assert not state.apply("like-changed", like("u1"))
    assert state.apply("like-changed", like("u2"))
    assert state.apply("like-changed", like("u1", "unlike"))
    assert not state.apply("like-changed", like("u1", "unlike"))
    assert not state.apply("like-changed", like("u3", "unlike"))  # never liked
    assert state.like_count == 1 and state.changed_likes == {"u1": False, "u2": True}


def test_comments_count_once_per_comment_id():
    state = Engagement("p", comments={"c0"}, comment_count=1)
    assert not state.apply("comment-added", {"comment_id": "c0"})
    assert state.apply("comment-added", {"comment_id": "c1"})
    assert not state.apply("comment-added", {"comment_id": "c1"})
    assert state.comment_count == 2 and state.new_comments == {"c1"}
