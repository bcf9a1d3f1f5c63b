"""Typed constructors refuse what the schema or the domain rules refuse, naming the field."""

import pytest

from producers import events
from producers.ids import is_id, new_id
from producers.validation import EventValidationError, validate_record

USER, OTHER, IMAGE = new_id(), new_id(), new_id()


def test_constructor_fills_ids_and_keys_by_catalog():
    event = events.post_created(author_id=USER, caption="x", image_ids=[IMAGE])
    assert event.topic == "post-created" and event.key == USER
    assert is_id(event.event_id) and is_id(event.value["post_id"])
    assert isinstance(event.value["occurred_at"], int)


def test_event_ids_sort_by_creation():
    ids = [new_id() for _ in range(50)]
    assert ids == sorted(ids)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"caption": "x" * 2201}, "caption"),
    ({"caption": " ".join(f"#t{i}" for i in range(31))}, "caption"),
    ({"image_ids": []}, "image_ids"),
    ({"image_ids": [new_id() for _ in range(11)]}, "image_ids"),
    ({"image_ids": ["not-an-id"]}, "image_ids"),
    ({"visibility": "everyone"}, "visibility"),
])
def test_post_rules(kwargs, field):
    args = {"author_id": USER, "caption": "ok", "image_ids": [IMAGE]} | kwargs
    with pytest.raises(EventValidationError) as info:
        events.post_created(**args)
    assert info.value.field == field


def test_thirty_hashtags_are_allowed():
    event = events.post_created(author_id=USER, caption=" ".join(f"#t{i}" for i in range(30)), image_ids=[IMAGE])
    assert event.topic == "post-created"


def test_self_follow_is_refused():
    with pytest.raises(EventValidationError) as info:
        events.follow_changed(follower_id=USER, followee_id=USER, action="follow")
    assert info.value.field == "followee_id"


def test_unknown_and_missing_fields_are_named():
    with pytest.raises(EventValidationError) as info:
        validate_record("post-deleted", {"event_id": "e", "occurred_at": 1, "post_id": "p", "author_id": "a",
                                         "extra": 1})
    assert info.value.field == "extra"
    with pytest.raises(EventValidationError) as info:
        validate_record("post-deleted", {"event_id": "e", "occurred_at": 1, "post_id": "p"})
    assert info.value.field == "author_id"


def test_wrong_types_are_named():
    with pytest.raises(EventValidationError) as info:
        validate_record("like-changed", {"event_id": "e", "occurred_at": "yesterday", "post_id": "p",
                                         "user_id": "u", "action": "like"})
    assert info.value.field == "occurred_at"
