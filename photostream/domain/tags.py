"""Hashtag extraction and normalisation: one pure function, shared by the API's validation and the stream.

A hashtag is ``#`` followed by letters, combining marks, digits or ``_`` in any script, the first of them no
mark; it ends at the first other character (so trailing punctuation and emoji are never part of it, nor an
emoji's presentation selector or keycap: ``#️⃣`` is no tag, ``#tag️`` is ``tag``). A joiner that scripts write
inside words (the zero-width non-joiner of Persian ``#می‌خواهم``, the Catalan ``l·l``, the Hebrew ``״``; see
:data:`_IN_WORD_JOINERS`) belongs to the tag between two of its characters, and ends it anywhere else.
It must not start inside a word (``a#b`` is no tag), a URL (``https://cafe.example/#menu``,
``www.cafe.example/#menu``) or a numeric HTML entity (``&#x27;``), may not be all digits, and is at most
:data:`MAX_TAG_LENGTH` characters after
normalisation (longer runs are not tags at all, rather than silently truncated). Normalisation is Unicode
NFKC, then case folding (then NFKC again, since folding can denormalise), so ``#Sunset``, ``#SUNSET`` and
``#ｓｕｎｓｅｔ`` are one tag.
"""

from __future__ import annotations

import re
import unicodedata

MAX_TAG_LENGTH = 100

#: in ASCII text the tag characters are exactly these (NFKC and case folding change nothing but case there)
_ASCII_TAG = re.compile(r"(?<![A-Za-z0-9_])#([A-Za-z0-9_]+)")
#: what holds a ``#`` that is no tag: a URL (``https://cafe.example/#menu``), a numeric HTML entity (``&#x27;``);
#: taken out before tags are looked for (``#summer/#beach`` and ``rock&#roll`` keep their tags)
_NOT_TAGS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*|&#[xX]?[0-9A-Fa-f]+;")
#: a web address written without its scheme: ``www.`` and a dotted host, or a dotted host with a path segment
#: before the ``#`` (``www.cafe.example/#menu``, ``cafe.example/menu#top``). A bare ``word.word/#tag`` stays a
#: tag: ``Paris.France/#travel`` and ``node.js/#coding`` are words, not hosts
_SCHEMELESS_ADDRESS = re.compile(
    r"(?<![\w@.#-])(?:www\.(?:[\w-]+\.)+[A-Za-z]{2,}/\S*|(?:[\w-]+\.)+[A-Za-z]{2,}/[^\s#/]+\S*)")
#: marks that belong to emoji, not to words: text and emoji presentation selectors, and the keycap
_EMOJI_MARKS = frozenset("\ufe0e\ufe0f\u20e3")
#: characters that join the parts of one word (as twitter-text's hashtag rules have them): zero-width non-joiner
#: and joiner, the middle dot (Catalan), geresh and gershayim (Hebrew), the tsheg (Tibetan), the katakana middle
#: dot. A tag holds them only between two tag characters: ``#می‌خواهم`` ended at its non-joiner (``#می``)
_IN_WORD_JOINERS = frozenset("\u200c\u200d\u00b7\u05f3\u05f4\u0f0b\u30fb")
#: the invisible ones, kept only inside words of the scripts that write them (:func:`_writes_joiners`)
_INVISIBLE_JOINERS = frozenset("\u200c\u200d")
#: Arabic and its supplements and presentation forms; Devanagari to Sinhala
_JOINER_SCRIPTS = ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF),
                   (0x0900, 0x0DFF))


def _is_tag_char(char: str) -> bool:
    return char == "_" or (unicodedata.category(char)[0] in ("L", "M", "N") and char not in _EMOJI_MARKS)


def _starts_a_tag(char: str) -> bool:
    """A tag's first character is a letter, a digit or ``_``: a mark alone makes no tag (``#️⃣``)."""
    return char == "_" or unicodedata.category(char)[0] in ("L", "N")


def normalize_tag(raw: str) -> str | None:
    """The canonical form of a tag body (without ``#``), or None if it is not a valid tag."""
    text = unicodedata.normalize("NFKC", raw).removeprefix("#")  # (NFKC first: "＃sunset" is "#sunset")
    folded = unicodedata.normalize("NFKC", text.casefold())
    if not folded or len(folded) > MAX_TAG_LENGTH:
        return None
    if not _starts_a_tag(folded[0]) or not all(_is_tag_char(c) or _joins_here(folded, k)
                                                for k, c in enumerate(folded)):
        return None
    if all(unicodedata.category(c)[0] == "N" or c in _IN_WORD_JOINERS for c in folded):
        return None
    return folded


def _joins_here(text: str, k: int) -> bool:
    """Whether ``text[k]`` is an in-word joiner between two tag characters (an invisible one only between two
    characters of a script that writes it: elsewhere it made a second tag looking the same, ``#sun‌set``, which
    a mute of ``#sunset`` did not hide)."""
    if text[k] not in _IN_WORD_JOINERS or not 0 < k < len(text) - 1:
        return False
    before, after = text[k - 1], text[k + 1]
    if not (_is_tag_char(before) and _is_tag_char(after)):
        return False
    return text[k] not in _INVISIBLE_JOINERS or (_writes_joiners(before) and _writes_joiners(after))


def _writes_joiners(char: str) -> bool:
    """A character of a script whose words hold zero-width (non-)joiners: Arabic (Persian, Urdu…) and the
    Indic scripts."""
    return any(low <= ord(char) <= high for low, high in _JOINER_SCRIPTS)


def extract_hashtags(text: str) -> list[str]:
    """Distinct normalised hashtags of ``text`` in order of first appearance.

    ASCII text (most captions) takes one regular expression with the same rules
    (``tests/unit/test_hashtag_tags.py`` checks both paths agree on any ASCII text); the character loop costs
    about a microsecond per character."""
    return _extract_ascii(text) if text.isascii() else _extract_by_characters(text)


def _without_non_tags(text: str) -> str:
    if "://" in text or "&#" in text:
        text = _NOT_TAGS.sub(" ", text)
    return _SCHEMELESS_ADDRESS.sub(" ", text) if "/" in text else text


def _extract_ascii(text: str) -> list[str]:
    text = _without_non_tags(text)
    found: dict[str, None] = {}
    for body in _ASCII_TAG.findall(text):
        if len(body) <= MAX_TAG_LENGTH and not body.isdigit():
            found.setdefault(body.lower(), None)
    return list(found)


def _extract_by_characters(text: str) -> list[str]:
    text = _without_non_tags(unicodedata.normalize("NFKC", text))
    found: dict[str, None] = {}
    i, n = 0, len(text)
    while i < n:
        if text[i] != "#" or (i > 0 and _is_tag_char(text[i - 1])):
            i += 1
            continue
        j = i + 1
        while j < n and (_is_tag_char(text[j]) or (j > i + 1 and _joins_here(text, j))):
            j += 1
        tag = normalize_tag(text[i + 1 : j]) if j > i + 1 else None
        if tag is not None:
            found.setdefault(tag, None)
        i = j if j > i + 1 else i + 1
    return list(found)
