"""Which users a write is remembered for (``api.pending_writes``): every user the event names."""

from __future__ import annotations

from api.pending_writes import users_of
from producers import events
from producers.ids import new_id


def test_a_write_is_about_every_user_it_names() -> None:
    a, b, post, image = new_id(), new_id(), new_id(), new_id()
    assert users_of(events.follow_changed(follower_id=a, followee_id=b, action="follow")) == {a, b}
    assert users_of(events.block_changed(actor_id=a, target_id=b, action="on")) == {a, b}
    assert users_of(events.photo_tag_changed(post_id=post, image_id=image, tagger_id=a, tagged_id=b,
                                             action="add", x=0.1, y=0.2)) == {a, b}
    assert users_of(events.like_changed(post_id=post, user_id=a, action="like")) == {a}
