"""What user-written text may hold: comments, captions and display names refuse control characters a person
does not type and text that shows nothing (the SDK's rules, which the API applies too)."""

from __future__ import annotations

import pytest

from photostream.domain.accounts import AccountRuleError, check_display_name
from producers import events
from producers.ids import new_id
from producers.validation import EventValidationError


@pytest.mark.parametrize("text", ["a\x00b", "a\x07b", "\x1b[31mred", "\u200b", "\u200b\u200b\u2060", "\ufeff",
                                  "\u3164", "\u2800\u2800", "\u115f", "\u034f", "\ufe0f", "\U000e0100"])
def test_a_comment_with_an_unwritten_control_or_nothing_visible_is_refused(text: str) -> None:
    with pytest.raises(EventValidationError) as info:
        events.comment_added(post_id=new_id(), user_id=new_id(), text=text)
    assert info.value.field == "text"


@pytest.mark.parametrize("text", ["line one\nline two\tand a tab", "👍", "👨‍👩‍👧", "ok\u200b", "❤️", "कि"])
def test_written_text_with_line_breaks_emoji_and_joiners_is_kept(text: str) -> None:
    assert events.comment_added(post_id=new_id(), user_id=new_id(), text=text).value["text"] == text


def test_a_caption_refuses_control_characters_but_may_be_empty_or_span_lines() -> None:
    with pytest.raises(EventValidationError) as info:
        events.post_created(author_id=new_id(), caption="nice\x00", image_ids=[new_id()])
    assert info.value.field == "caption"
    for caption in ("", "two\nlines"):
        made = events.post_created(author_id=new_id(), caption=caption, image_ids=[new_id()])
        assert made.value["caption"] == caption


@pytest.mark.parametrize("name", ["a\u2029b", "a\u2028b", " ", "\u200b", "\u3000"])
def test_a_display_name_is_one_visible_line(name: str) -> None:
    with pytest.raises(AccountRuleError) as info:
        check_display_name(name)
    assert info.value.field == "display_name"
    assert check_display_name("Zoë ✨") == "Zoë ✨"


@pytest.mark.parametrize("name", ["admin\u202etxt.exe", "\u2066bob\u2069", "a\u202ab"])
def test_a_display_name_has_no_direction_override_that_could_disguise_it(name: str) -> None:
    with pytest.raises(AccountRuleError) as info:
        check_display_name(name)
    assert info.value.field == "display_name" and "U+202E" in str(info.value)
    assert check_display_name("\u05e9\u05dc\u05d5\u05dd Dana") == "\u05e9\u05dc\u05d5\u05dd Dana"  # Hebrew needs none


@pytest.mark.parametrize("at", [-5, 1_796_000_000_000_000, 4_102_444_800_000])  # before 1970, µs, year 2100
def test_an_event_time_must_be_epoch_milliseconds_of_now_or_the_past(at: int) -> None:
    """A producer's microseconds as milliseconds (year 58,000) broke every read of the row it wrote, and a like
    timed in 2100 could never be undone."""
    with pytest.raises(EventValidationError) as info:
        events.build("like-changed", {"post_id": new_id(), "user_id": new_id(), "action": "like", "occurred_at": at})
    assert info.value.field == "occurred_at"
    with pytest.raises(EventValidationError) as info:
        events.comment_deleted(post_id=new_id(), comment_id=new_id(), user_id=new_id(), actor_id=new_id(),
                               commented_at=at)
    assert info.value.field == "commented_at"


def test_a_record_timed_beyond_what_a_store_holds_does_not_decode() -> None:
    """Raw producers bypass the SDK: the codec refuses such a record (poison: it goes to the DLQ)."""
    from photostream.contracts.codec import DecodeError, EventCodec

    codec = EventCodec()
    record = dict(events.like_changed(post_id=new_id(), user_id=new_id(), action="like").value)
    assert codec.decode("like-changed", codec.encode("like-changed", record))["occurred_at"] == record["occurred_at"]
    for beyond in (1_796_000_000_000_000, -1):
        record["occurred_at"] = beyond
        for reading in (EventCodec(), codec):  # a topic's first record (the slow path) and a later one (the hot)
            with pytest.raises(DecodeError, match=f"occurred_at: {beyond} ms is outside the times a store can hold"):
                reading.decode("like-changed", codec.encode("like-changed", record))

    # fastavro's reader (for a schema the generator does not cover) refuses it the same way
    from photostream.contracts.codec import _fastavro_decoder

    with pytest.raises(DecodeError, match="occurred_at: -1 ms is outside the times a store can hold"):
        _fastavro_decoder(codec.store.current("like-changed"))(codec.encode("like-changed", record))


def test_the_fast_scans_judge_as_the_unicode_categories_do() -> None:
    """The regular expressions stand in for a per-character category lookup (the producer's hot path)."""
    import unicodedata

    from photostream.domain.text import shows_something, unwritten_control

    for code in range(0x3000):  # every control, and the scripts a fast path could get wrong
        char = chr(code)
        unwritten = unicodedata.category(char) == "Cc" and char not in "\n\r\t"
        assert (unwritten_control(f"a{char}b") == char) is unwritten, hex(code)
    assert shows_something("\u200b\u00e9") and not shows_something("\u200b \u3164")


def test_a_blank_comment_says_nothing_is_visible_and_a_comment_id_must_be_a_uuid7() -> None:
    import uuid

    for blank in ("   ", "\u2028", "\u200b"):
        with pytest.raises(EventValidationError, match="nothing visible") as info:
            events.comment_added(post_id=new_id(), user_id=new_id(), text=blank)
        assert info.value.field == "text"
    with pytest.raises(EventValidationError, match="UUIDv7") as info:
        events.comment_added(post_id=new_id(), user_id=new_id(), text="hi", comment_id=str(uuid.uuid4()))
    assert info.value.field == "comment_id"
    assert events.comment_added(post_id=new_id(), user_id=new_id(), text="hi").value["comment_id"][14] == "7"
