"""People tags: who may be tagged, when a tag waits for approval, who removes it, and how changes are ordered."""

from __future__ import annotations

import pytest

from photostream.domain.photo_tags import (
    MAX_TAGS_PER_PHOTO,
    PhotoTag,
    Refusal,
    TagFacts,
    TagSettings,
    decide_tag,
    may_remove,
    shown_to,
    silent_removal,
    tag_change,
    write_timestamp_us,
)
from producers.ids import new_id

EVERYONE, FOLLOWED_ONLY = TagSettings(), TagSettings(followed_only=True)
APPROVAL = TagSettings(manual_approval=True)


def facts(**overrides: object) -> TagFacts:
    base = {"blocked": False, "tagged_follows_author": False, "settings": EVERYONE, "already_tagged": False,
            "tags_on_photo": 0}
    return TagFacts(**(base | overrides))  # type: ignore[arg-type]


@pytest.mark.parametrize(("case", "outcome"), [
    (facts(), False),
    (facts(settings=APPROVAL), True),  # a stranger's tag waits for approval
    (facts(settings=APPROVAL, tagged_follows_author=True), False),  # someone they follow: approved at once
    (facts(settings=FOLLOWED_ONLY, tagged_follows_author=True), False),
    (facts(settings=TagSettings(True, True), tagged_follows_author=True), False),
    (facts(tags_on_photo=MAX_TAGS_PER_PHOTO - 1), False),  # the 20th tag is fine
])
def test_an_accepted_tag_is_pending_only_when_a_stranger_tags_someone_who_approves_tags(
    case: TagFacts, outcome: bool
) -> None:
    assert decide_tag(case) is outcome


@pytest.mark.parametrize(("case", "status"), [
    (facts(blocked=True), 404),  # as absent, like the profile: a 403 told the author they were blocked
    (facts(blocked=True, tagged_follows_author=True), 404),
    (facts(settings=FOLLOWED_ONLY), 403),  # tags only from people they follow; they do not follow the author
    (facts(already_tagged=True), 409),
    (facts(tags_on_photo=MAX_TAGS_PER_PHOTO), 422),  # the 21st
])
def test_refused_tags_name_the_field(case: TagFacts, status: int) -> None:
    refusal = decide_tag(case)
    assert isinstance(refusal, Refusal)
    assert (refusal.status, refusal.field) == (status, "user_id")


@pytest.mark.parametrize(("actor", "allowed"), [("author", True), ("tagged", True), ("someone", False)])
def test_the_author_removes_any_tag_and_the_tagged_person_their_own(actor: str, allowed: bool) -> None:
    assert may_remove(actor, "author", "tagged") is allowed


def event(action: str = "add", **overrides: object) -> dict:
    base = {"post_id": new_id(), "image_id": new_id(), "tagger_id": new_id(), "tagged_id": new_id(),
            "action": action, "x": 0.5, "y": 0.25, "pending": False, "occurred_at": 1_700_000_000_000}
    return base | overrides


def test_a_tagged_person_removing_themselves_is_silent_and_the_authors_removal_is_not() -> None:
    person = new_id()
    assert silent_removal(tag_change(event("remove", tagger_id=person, tagged_id=person, x=None, y=None)))
    assert not silent_removal(tag_change(event("remove", x=None, y=None)))
    assert not silent_removal(tag_change(event("approve", tagger_id=person, tagged_id=person)))


@pytest.mark.parametrize("bad", [event(post_id="nope"), event(tagged_id=""), event(action="move"),
                                 event("add", x=None)])
def test_an_event_no_client_could_have_made_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        tag_change(bad)


def test_within_one_millisecond_add_then_approve_then_remove_win_in_that_order() -> None:
    stamps = [write_timestamp_us(1_000, a) for a in ("add", "approve", "remove")]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    assert write_timestamp_us(1_001, "add") > write_timestamp_us(1_000, "remove")  # a later millisecond wins


@pytest.mark.parametrize(("pending", "viewer", "shown"), [
    (False, None, True), (False, "stranger", True),
    (True, None, False), (True, "stranger", False), (True, "tagged", True), (True, "author", True),
])
def test_pending_tags_are_shown_only_to_the_tagged_person_and_the_author(
    pending: bool, viewer: str | None, shown: bool
) -> None:
    tag = PhotoTag("post", "img", "tagged", "author", 0.1, 0.2, pending)
    assert shown_to(tag, viewer, "author") is shown


def test_a_tags_place_is_a_number_not_a_boolean() -> None:
    """``x: true`` was taken as 1.0 (the right edge of the photo)."""
    import pydantic

    from api.routes.photo_tags import TagCreate

    assert TagCreate(user_id="u", x=1, y=0.5).x == 1.0
    for wrong in (True, "0.5"):
        with pytest.raises(pydantic.ValidationError) as refused:
            TagCreate(user_id="u", x=wrong, y=0.5)
        assert refused.value.errors()[0]["loc"] == ("x",)
