"""Typed constructors refuse what the schema or the domain rules refuse, naming the field."""

import uuid

import pytest

from photostream.contracts.codec import EventCodec
from photostream.contracts.schema_store import default_store
from producers import events
from producers.ids import is_id, new_id, now_ms
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


#: a UUIDv7 of the year 10889: made long after any event of today (a producer's clock gone wrong)
FUTURE_V7 = "ffffffff-ffff-7fff-bfff-ffffffffffff"


@pytest.mark.parametrize(("build", "field"), [
    (lambda: events.post_created(author_id=USER, caption="x", image_ids=[IMAGE], post_id=str(uuid.uuid4())),
     "post_id"),
    (lambda: events.post_created(author_id=USER, caption="x", image_ids=[IMAGE], post_id=FUTURE_V7), "post_id"),
    (lambda: events.post_created(author_id=USER, caption="x", image_ids=[IMAGE], post_id="p1"), "post_id"),
    (lambda: events.comment_added(post_id=new_id(), user_id=USER, text="hi", comment_id=FUTURE_V7), "comment_id"),
    (lambda: events.build("post-created", {"post_id": FUTURE_V7, "author_id": USER, "caption": "x",
                                           "image_ids": [IMAGE]}), "post_id"),
])
def test_an_id_a_list_is_ordered_by_must_be_a_uuid7_made_no_later_than_its_event(build, field):
    """Feeds, grids and comment lists sort by these ids: one the caller chose is checked, whichever path."""
    with pytest.raises(EventValidationError, match=r"UUIDv7|after its event|not a valid id") as info:
        build()
    assert info.value.field == field


def test_the_ids_a_constructor_mints_are_time_ordered_and_not_checked_again():
    """A fresh post id is a UUIDv7 of now by construction; re-checking it cost ~1.9 µs an event."""
    post = events.post_created(author_id=USER, caption="x", image_ids=[IMAGE])
    assert post.value["post_id"][14] == "7" and post.value["post_id"] != post.event_id
    post_type = events.event_type("post-created")
    minted = post_type.checks_after_minting(True, "post_id")
    assert "post_id" not in minted.ids + minted.time_ordered and "author_id" in minted.ids
    assert post_type.checks_after_minting(False, None).time_ordered == ("post_id",)
    given = new_id()
    assert events.post_created(author_id=USER, caption="x", image_ids=[IMAGE], post_id=given).value["post_id"] \
        == given


def test_the_processors_id_check_covers_a_posts_and_a_comments_own_id():
    """The engine checks every record's id fields with ``check_ids``: another producer's post id "p1" must be
    refused there too, not only by the SDK's time-order check."""
    post = dict(events.post_created(author_id=USER, caption="x", image_ids=[IMAGE]).value, post_id="p1")
    comment = dict(events.comment_added(post_id=new_id(), user_id=USER, text="hi").value, comment_id="c1")
    for topic, record, field in (("post-created", post, "post_id"), ("comment-added", comment, "comment_id")):
        with pytest.raises(EventValidationError) as info:
            events.event_type(topic).check_ids(record)
        assert info.value.field == field


def test_thirty_hashtags_are_allowed():
    event = events.post_created(author_id=USER, caption=" ".join(f"#t{i}" for i in range(30)), image_ids=[IMAGE])
    assert event.topic == "post-created"


def test_self_follow_is_refused():
    with pytest.raises(EventValidationError) as info:
        events.follow_changed(follower_id=USER, followee_id=USER, action="follow")
    assert info.value.field == "followee_id"


@pytest.mark.parametrize(("build", "field"), [
    (lambda: events.message_unsent(src=USER, dest=USER, msg_id=new_id()), "dest"),
    (lambda: events.message_unsent(src="bob", dest=USER, msg_id=new_id()), "src"),
    (lambda: events.message_unsent(src=OTHER, dest=USER, msg_id=str(uuid.uuid4())), "msg_id"),
    (lambda: events.messages_read(user_id=USER, sender_id=USER, read_up_to_msg_id=new_id()), "user_id"),
    (lambda: events.messages_read(user_id=USER, sender_id=OTHER, read_up_to_msg_id="42"), "read_up_to_msg_id"),
    # a message id made long after its event (a clock gone wrong): a read mark like it silenced a sender for good
    (lambda: events.messages_read(user_id=USER, sender_id=OTHER,
                                  read_up_to_msg_id="ffffffff-ffff-7fff-bfff-ffffffffffff"), "read_up_to_msg_id"),
    (lambda: events.message_unsent(src=OTHER, dest=USER, msg_id="ffffffff-ffff-7fff-bfff-ffffffffffff"), "msg_id"),
    (lambda: events.like_changed(post_id="p1", user_id=USER, action="like"), "post_id"),
    # what the API refuses, the SDK refuses too (an upstream service's "BOB" was served as it came)
    (lambda: events.user_registered(user_id=USER, username="BOB_h7", display_name="Bob"), "username"),
    (lambda: events.user_registered(user_id=USER, username="", display_name="Bob"), "username"),
    (lambda: events.user_registered(user_id=USER, username="bad name <b>", display_name="Bob"), "username"),
    (lambda: events.user_registered(user_id=USER, username="bob", display_name="Bob\x00"), "display_name"),
    (lambda: events.user_registered(user_id=USER, username="bob", display_name="Bob", bio="b" * 501), "bio"),
    (lambda: events.content_reported(reporter_id=USER, target_kind="post", target_id=OTHER,
                                     reason="because"), "reason"),  # type: ignore[arg-type]
    (lambda: events.content_reported(reporter_id=USER, target_kind="post", target_id=OTHER, reason="spam",
                                     details="d" * 1001), "details"),
    (lambda: events.post_created(author_id=USER, caption="hi", image_ids=[IMAGE],
                                 location={"name": "Nowhere", "lat": 200.0, "lon": 0.0}), "location"),
    (lambda: events.post_created(author_id=USER, caption="hi", image_ids=[IMAGE],
                                 location={"name": "Nowhere", "lat": float("nan"), "lon": 0.0}), "location"),
    (lambda: events.photo_uploaded(image_id=IMAGE, user_id=USER, object_key="photos/else/x",
                                   content_type="image/jpeg", size_bytes=1), "object_key"),
    (lambda: events.photo_uploaded(image_id=IMAGE, user_id=USER, content_type="image/jpeg",
                                   size_bytes=-10), "size_bytes"),
    (lambda: events.post_created(author_id=USER, caption="hi", image_ids=[IMAGE],
                                 location={"name": "Here", "city": "There"}), "location"),  # it was dropped
    (lambda: events.post_created(author_id=USER, caption="hi", image_ids=[IMAGE],
                                 location={"name": "bad \ud800"}), "location"),  # it named "event"
    # over the broker's message size: refused naming the field, before anything is sent (the broker's refusal
    # named nothing, and a batch with such an event in its middle went out half-sent)
    (lambda: events.photo_uploaded(image_id=IMAGE, user_id=USER, content_type="x" * 1_000_000,
                                   size_bytes=1), "content_type"),
    (lambda: events.follow_changed(follower_id=USER, followee_id="alice", action="follow"), "followee_id"),
    (lambda: events.presence_changed(user_id="x", status="online"), "user_id"),
    # every field naming a user, post, image or comment, on every topic (the processors refuse them all)
    (lambda: events.post_created(author_id="bob", caption="hi", image_ids=[IMAGE]), "author_id"),
    (lambda: events.post_created(author_id=USER, caption="hi", image_ids=["img"]), "image_ids"),
    (lambda: events.comment_added(post_id="bob", user_id=USER, text="hi"), "post_id"),
    (lambda: events.block_changed(actor_id="bob", target_id=USER, action="on"), "actor_id"),
    (lambda: events.mute_changed(actor_id=USER, target_id="alice", action="on"), "target_id"),
    (lambda: events.photo_tag_changed(post_id=new_id(), image_id="img", tagger_id=USER, tagged_id=OTHER,
                                      action="add", x=0.5, y=0.5), "image_id"),
    (lambda: events.post_deleted(post_id="p", author_id=USER), "post_id"),
    (lambda: events.build("post-deleted", {"post_id": new_id(), "author_id": USER, "event_id": "x"}), "event_id"),
    (lambda: events.comment_added(post_id=new_id(), user_id=USER, text="a\ud800b"), "text"),
])
def test_what_the_processors_would_dead_letter_is_refused_before_sending(build, field):
    """The SDK checks the consumers' domain rules too: a caller learns at once, naming the field."""
    with pytest.raises(EventValidationError) as info:
        build()
    assert info.value.field == field


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


# --- the per-topic fast path keeps every check -------------------------------------------------------------
def every_constructor():
    """One valid call of every typed constructor."""
    return [
        events.post_created(author_id=USER, caption="x #y", image_ids=[IMAGE]),
        events.post_deleted(post_id=new_id(), author_id=USER),
        events.post_hashtag(event_id=new_id(), post_id=new_id(), author_id=USER, hashtag="y", action="retract",
                            cause="audience", as_of=5,
                            post_created_at=1, occurred_at=2, post_tags=["y"]),
        events.follow_changed(follower_id=USER, followee_id=OTHER, action="follow"),
        events.like_changed(post_id=new_id(), user_id=USER, action="like"),
        events.comment_added(post_id=new_id(), user_id=USER, text="nice"),
        events.comment_deleted(post_id=new_id(), comment_id=new_id(), user_id=OTHER, actor_id=USER,
                               commented_at=1),
        events.message_unsent(src=USER, dest=OTHER, msg_id=new_id()),
        events.messages_read(user_id=USER, sender_id=OTHER, read_up_to_msg_id=new_id()),
        events.presence_changed(user_id=USER, status="online"),
        events.photo_uploaded(image_id=IMAGE, user_id=USER, content_type="image/jpeg", size_bytes=10),
        events.user_registered(user_id=USER, username="user1", display_name="U"),
        events.profile_updated(user_id=USER, username="user1", display_name="U", is_private=False,
                               tags_followed_only=False, tags_manual_approval=False),
        events.follow_requested(follower_id=USER, followee_id=OTHER, action="request"),
        events.block_changed(actor_id=USER, target_id=OTHER, action="on"),
        events.mute_changed(actor_id=USER, target_id=OTHER, action="on"),
        events.content_reported(reporter_id=USER, target_kind="post", target_id=new_id(), reason="spam"),
        events.account_deleted(user_id=USER),
        events.photo_tag_changed(post_id=new_id(), image_id=new_id(), tagger_id=USER, tagged_id=new_id(), action="add",
                                 x=0.25, y=0.75, pending=True),
    ]


def test_every_typed_constructor_fills_every_schema_field_and_encodes_as_the_codec_does():
    made = every_constructor()
    assert {e.topic for e in made} == set(default_store().topics())
    codec = EventCodec()
    for event in made:
        assert event.value.keys() == default_store().current(event.topic).field_names, event.topic
        assert event.payload == codec.encode(event.topic, event.value)
        assert codec.decode(event.topic, event.payload) == event.value


def test_an_event_cannot_be_changed():
    event = events.like_changed(post_id=new_id(), user_id=USER, action="like")
    with pytest.raises(AttributeError):
        event.payload = b""  # type: ignore[misc]


@pytest.mark.parametrize(("fields", "field"), [
    ({"post_id": new_id(), "user_id": USER, "action": "adore"}, "action"),
    ({"post_id": 7, "user_id": USER, "action": "like"}, "post_id"),
    ({"post_id": new_id(), "user_id": USER, "action": "like", "occurred_at": True}, "occurred_at"),
    ({"post_id": new_id(), "user_id": USER, "action": "like", "occurred_at": "yesterday"}, "occurred_at"),
    ({"post_id": new_id(), "action": "like"}, "user_id"),
    ({"post_id": new_id(), "user_id": USER, "action": "like", "mood": "happy"}, "mood"),
])
def test_build_refuses_what_the_schema_refuses_naming_the_field(fields, field):
    with pytest.raises(EventValidationError) as info:
        events.build("like-changed", fields)
    assert info.value.field == field


def test_typed_constructors_refuse_wrong_types_naming_the_field():
    with pytest.raises(EventValidationError) as info:
        events.like_changed(post_id=new_id(), user_id=None, action="like")  # type: ignore[arg-type]
    assert info.value.field == "user_id"
    with pytest.raises(EventValidationError) as info:
        events.post_created(author_id=USER, caption=None, image_ids=[IMAGE])  # type: ignore[arg-type]
    assert info.value.field == "caption"


def test_hashtags_that_only_appear_after_normalisation_still_count():
    # U+FF03 FULLWIDTH NUMBER SIGN becomes '#' under NFKC: 31 distinct tags without one ASCII '#'
    with pytest.raises(EventValidationError) as info:
        events.post_created(author_id=USER, caption=" ".join(f"\uff03t{i}" for i in range(31)), image_ids=[IMAGE])
    assert info.value.field == "caption"


def test_many_hash_signs_but_few_tags_are_allowed():
    event = events.post_created(author_id=USER, caption="#a " + "# " * 40 + "#1 #2", image_ids=[IMAGE])
    assert event.topic == "post-created"


@pytest.mark.parametrize("tag", ["Sunset", "sun set", "", "123", "ｓｕｎ"])
def test_a_non_normalised_hashtag_is_refused_every_time(tag):
    for _ in range(2):  # the second time answers from the cache
        with pytest.raises(EventValidationError) as info:
            events.post_hashtag(event_id=new_id(), post_id=new_id(), author_id=USER, hashtag=tag, action="add",
                                post_created_at=1, occurred_at=2, post_tags=[tag])
        assert info.value.field == "hashtag"


def test_build_fills_ids_and_defaults():
    event = events.build("post-created", {"post_id": new_id(), "author_id": USER, "caption": "c",
                                          "image_ids": [IMAGE]})
    assert event.value["visibility"] == "public" and event.value["location"] is None
    assert is_id(event.event_id) and isinstance(event.value["occurred_at"], int)


def test_an_edit_carries_a_profile_registered_before_the_text_rules():
    """A profile-updated event carries the fields an edit does not change as stored: a name from before the
    rules must not make the account uneditable (not even to turn it private)."""
    edit = events.profile_updated(user_id=USER, username="LegacyBob", display_name="Two\nLines", bio="b" * 800,
                                  is_private=True, tags_followed_only=False, tags_manual_approval=False)
    assert edit.value["is_private"] is True



@pytest.mark.parametrize("make", [
    lambda at: events.build("comment-deleted", {"post_id": new_id(), "comment_id": new_id(), "user_id": USER,
                                                "actor_id": USER, "commented_at": at}),
    lambda at: events.post_hashtag(event_id=new_id(), post_id=new_id(), author_id=USER, hashtag="x", action="add",
                                   post_created_at=at, occurred_at=2, post_tags=["x"]),
    lambda at: events.post_hashtag(event_id=new_id(), post_id=new_id(), author_id=USER, hashtag="x", action="add",
                                   post_created_at=2, occurred_at=at, post_tags=["x"]),
])
def test_every_time_an_event_carries_is_of_this_era_whichever_way_it_is_made(make) -> None:
    """``build``/``post_hashtag`` checked ``occurred_at`` only (or nothing): a ``commented_at`` of -5 or a
    ``post_created_at`` in year 9999 was published, and every processor dead-lettered it."""
    from producers.ids import now_ms

    assert make(now_ms() - 1000).value  # a time of now or the past: fine
    for wrong in (-5, 253_402_300_800_000, now_ms() + 3 * 24 * 3600 * 1000):
        with pytest.raises(EventValidationError) as refused:
            make(wrong)
        assert refused.value.field in ("commented_at", "post_created_at", "occurred_at")


def test_post_hashtag_checks_its_event_id_as_every_maker_does() -> None:
    with pytest.raises(EventValidationError) as refused:
        events.post_hashtag(event_id="nope", post_id=new_id(), author_id=USER, hashtag="x", action="add",
                            post_created_at=1, occurred_at=2, post_tags=["x"])
    assert refused.value.field == "event_id"


def test_the_sdk_refuses_what_the_api_refuses_a_photo_twice_and_a_comment_padded_past_its_length() -> None:
    image = new_id()
    with pytest.raises(EventValidationError) as twice:
        events.post_created(author_id=USER, caption="", image_ids=[image, image])
    assert twice.value.field == "image_ids"
    with pytest.raises(EventValidationError) as padded:
        events.comment_added(post_id=new_id(), user_id=USER, text="x" * events.MAX_COMMENT_CHARS + "   ")
    assert padded.value.field == "text"
    assert events.comment_added(post_id=new_id(), user_id=USER, text="x" * events.MAX_COMMENT_CHARS).value


@pytest.mark.parametrize(("make", "field"), [
    (lambda: events.post_created(author_id=USER, caption="", image_ids=[new_id()],
                                 location={"name": "Caf\u00e9\nParis", "lat": None, "lon": None}), "location"),
    (lambda: events.post_created(author_id=USER, caption="", image_ids=[new_id()],
                                 location={"name": "   ", "lat": None, "lon": None}), "location"),
    (lambda: events.content_reported(reporter_id=USER, target_kind="user", target_id=new_id(), reason="spam",
                                     details="nul\x00here"), "details"),
])
def test_text_shown_to_others_holds_no_control_characters_and_something_visible(make, field: str) -> None:
    with pytest.raises(EventValidationError) as refused:
        make()
    assert refused.value.field == field


def test_an_email_address_with_a_control_character_is_not_an_address() -> None:
    from photostream.domain.accounts import AccountRuleError, normalize_email

    assert normalize_email(" Ann@Example.com ") == "ann@example.com"
    for wrong in ("ann\x00@example.com", "ann@exa\x07mple.com", "ann@example.co\x7fm"):
        with pytest.raises(AccountRuleError):
            normalize_email(wrong)


@pytest.mark.parametrize(("post_tags", "says"), [
    (["x", "y", "y"], "at most once"),
    (["x", "Sunset"], "not a normalised"),
    (["y"], "include the event's hashtag"),
    ([f"t{i}" for i in range(30)] + ["x"], "at most 30"),
])
def test_a_post_hashtag_with_a_wrong_tag_set_is_refused(post_tags, says):
    """The counter counts a related pair once per entry: an entry twice doubled it, a raw one made a page-less
    related tag."""
    with pytest.raises(EventValidationError) as info:
        events.post_hashtag(event_id=new_id(), post_id=new_id(), author_id=USER, hashtag="x", action="add",
                            post_created_at=1, occurred_at=2, post_tags=post_tags)
    assert info.value.field == "post_tags" and says in str(info.value)


def test_a_built_profile_update_must_name_its_privacy_and_tag_settings():
    """``photostream publish profile-updated`` builds from a JSON line: a bio sync that sent only what it
    changed had ``is_private`` filled with its default, false, and made a private account public."""
    fields = {"user_id": USER, "username": "anna", "display_name": "Anna", "bio": "synced"}
    with pytest.raises(EventValidationError) as info:
        events.build("profile-updated", fields)
    assert info.value.field == "is_private"
    with pytest.raises(EventValidationError) as info:
        events.build("profile-updated", {**fields, "is_private": True})
    assert info.value.field == "tags_followed_only"
    built = events.build("profile-updated", {**fields, "is_private": True, "tags_followed_only": False,
                                             "tags_manual_approval": True})
    assert built.value["is_private"] is True


def test_a_post_id_must_be_a_uuidv7_of_its_own_time():
    """Feeds order posts by their ids' time: a v4 id, or a v7 minted years ahead, sat above every real post."""
    import uuid

    from producers.ids import last_id_at

    fields = {"author_id": USER, "caption": "c", "image_ids": [IMAGE]}
    for post_id in (str(uuid.uuid4()), last_id_at(now_ms() + 3 * 365 * 86_400_000)):
        with pytest.raises(EventValidationError) as info:
            events.build("post-created", {**fields, "post_id": post_id})
        assert info.value.field == "post_id"
    assert events.build("post-created", {**fields, "post_id": new_id()}).value["caption"] == "c"


def test_a_retraction_carries_the_tags_remembered_whatever_rules_made_them():
    """The tags remembered when a post was counted (older rules made ``sun\u200cset``) travel with its retraction;
    refused, the deletion left the post counted on every other tag."""
    legacy = ["trip", "sun\u200cset"]
    retract = events.post_hashtag(event_id=new_id(), post_id=new_id(), author_id=USER, hashtag="trip",
                                  action="retract", post_created_at=1, occurred_at=2, post_tags=legacy)
    assert retract.value["post_tags"] == legacy
    with pytest.raises(EventValidationError):
        events.post_hashtag(event_id=new_id(), post_id=new_id(), author_id=USER, hashtag="trip", action="add",
                            post_created_at=1, occurred_at=2, post_tags=legacy)
