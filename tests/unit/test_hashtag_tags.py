"""Hashtag normalisation: a table of captions and the tags they must yield."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from photostream.domain.tags import MAX_TAG_LENGTH, _extract_by_characters, extract_hashtags, normalize_tag

CASES = [
    ("#Sunset #sunset #SUNSET", ["sunset"]),
    ("#日本 #café #ñandú", ["日本", "café", "ñandú"]),
    ("#नमस्ते दुनिया", ["नमस्ते"]),  # Devanagari with combining marks
    ("#Привет #мир", ["привет", "мир"]),
    ("#sun! #sea, #sky.", ["sun", "sea", "sky"]),  # trailing punctuation is not part of a tag
    ("#🔥fire #fire🔥 #🔥", ["fire"]),  # emoji end a tag and are never in one
    ("#123 #2024 #1a #_x", ["1a", "_x"]),  # all digits is not a tag
    ("email a#b and c#d", []),  # a tag cannot start inside a word
    ("#ＳＵＮＳＥＴ", ["sunset"]),  # NFKC folds full-width forms
    ("#Straße #STRASSE", ["strasse"]),  # case folding, not lowercasing
    ("##double", ["double"]),
    ("#", []),
    ("no tags here", []),
    ("#a_b-c", ["a_b"]),
    ("#" + "a" * MAX_TAG_LENGTH, ["a" * MAX_TAG_LENGTH]),
    ("#" + "a" * (MAX_TAG_LENGTH + 1), []),  # too long is not a tag at all
    ("#b #a #b", ["b", "a"]),  # order of first appearance
    # a # inside a URL or an HTML entity makes no tag (they became #menu and #x27)
    ("menu at https://cafe.example/#menu and it&#x27;s great #real", ["real"]),
    ("menü at https://café.example/#menu and it&#x27;s grand #réel", ["réel"]),
    ("#️⃣ keycap alone, #tag️ with its presentation selector", ["tag"]),  # a keycap is no tag; FE0F ends one
    ("😀️#after an emoji", ["after"]),
    ("#summer/#beach/#sun and rock&#roll", ["summer", "beach", "sun", "roll"]),  # a slash or an & ends a word
    ("Sunset 🌅/#goldenhour", ["goldenhour"]),
    # an address without its scheme holds no tag either (#urlfrag counted, and trended, as a tag)
    ("see www.cafe.example/#urlfrag or cafe.example/menu#top #real", ["real"]),
    ("menü auf www.café.example/#karte #echt", ["echt"]),
    ("#a.b/#c", ["a", "c"]),  # a tag is no host
    # words with a dot are no host: the tag after them stays
    ("Paris.France/#travel, Loved St.Louis/#stl, node.js/#coding", ["travel", "stl", "coding"]),
    # a joiner written inside a word belongs to the tag (Persian ended at its non-joiner: #می), not at its ends
    ("#می\u200cخواهم #col·legi #צה״ל", ["می\u200cخواهم", "col·legi", "צה״ל"]),
    ("#foo\u200d #\u200cbar #a\u200c\u200cb #love\u200d👩 #12·34", ["foo", "a", "love"]),
    # an invisible joiner only where the script writes it: #sun‌set was a second "sunset" a mute did not hide
    ("#sun\u200cset #क्\u200dष", ["sun", "क्\u200dष"]),
]


@pytest.mark.parametrize(("caption", "expected"), CASES)
def test_extract_hashtags(caption: str, expected: list[str]) -> None:
    assert extract_hashtags(caption) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("Sunset", "sunset"), ("#Sunset", "sunset"), ("ＳＵＮ", "sun"), ("123", None), ("", None), ("a b", None),
    ("日本", "日本"), ("＃sunset", "sunset"),  # a full-width # as typed in a path or a mute
    ("می\u200cخواهم", "می\u200cخواهم"), ("foo\u200c", None), ("\u200cfoo", None),  # joiners: inside only
])
def test_normalize_tag(raw: str, expected: str | None) -> None:
    assert normalize_tag(raw) == expected



@given(st.text(alphabet="#aZ09_ .,!-\n", max_size=60) | st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_captions_take_the_fast_path_with_the_same_tags(caption: str) -> None:
    assert extract_hashtags(caption) == _extract_by_characters(caption)


def test_an_ascii_run_too_long_to_be_a_tag_is_none_on_both_paths() -> None:
    long = "#" + "a" * (MAX_TAG_LENGTH + 1)
    assert extract_hashtags(long) == _extract_by_characters(long) == []
    assert extract_hashtags("#" + "a" * MAX_TAG_LENGTH) == ["a" * MAX_TAG_LENGTH]
