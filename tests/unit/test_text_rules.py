"""What user-written text may hold: comments, captions and display names refuse control characters a person
does not type and text that shows nothing (the SDK's rules, which the API applies too)."""

from __future__ import annotations

import pytest

from photostream.domain.accounts import AccountRuleError, check_display_name
from producers import events
from producers.ids import new_id
from producers.validation import EventValidationError


@pytest.mark.parametrize("text", ["a\x00b", "a\x07b", "\x1b[31mred", "\u200b", "\u200b\u200b\u2060", "\ufeff"])
def test_a_comment_with_an_unwritten_control_or_nothing_visible_is_refused(text: str) -> None:
    with pytest.raises(EventValidationError) as info:
        events.comment_added(post_id=new_id(), user_id=new_id(), text=text)
    assert info.value.field == "text"


@pytest.mark.parametrize("text", ["line one\nline two\tand a tab", "👍", "👨‍👩‍👧", "ok\u200b"])
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
