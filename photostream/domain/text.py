"""What user-written text may hold (pure): shared by the SDK's rules and the API's, so both refuse the same.

A NUL, an escape sequence or a bell in a comment or a caption is not something a person writes, and it reaches
every client that renders it (a terminal escape in a moderation tool, a NUL cutting a C string); text made only
of invisible characters (zero-width spaces, a byte-order mark) is an empty comment that passed the length check.

Both checks run on the producer's hot path (every caption and comment), so each is one regular-expression scan
in C; only text with no visible ASCII character (emoji only, another script) is judged character by character.
"""

from __future__ import annotations

import re
import unicodedata

#: the control characters (Unicode category Cc) a person does not write: all but line breaks and tabs
_UNWRITTEN_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: a visible ASCII character: most text has one, and then it shows something
_VISIBLE_ASCII = re.compile(r"[!-~]")
#: categories that show nothing on their own: spaces, separators, controls, format characters (a zero-width
#: joiner is Cf: it joins the emoji around it, which are what shows) and marks (a combining mark or a variation
#: selector shows only on the character it follows)
_INVISIBLE = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf", "Mn", "Me"})
#: letters and symbols by category that show nothing: the Hangul fillers and the blank braille pattern, the
#: usual way around a "not blank" rule
_BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def unwritten_control(text: str) -> str | None:
    """The first control character a person does not write (all but line breaks and tabs), if any."""
    found = _UNWRITTEN_CONTROL.search(text)
    return found.group() if found else None


def shows_something(text: str) -> bool:
    """Whether any character of ``text`` is visible on its own."""
    if _VISIBLE_ASCII.search(text):
        return True
    return any(unicodedata.category(c) not in _INVISIBLE and c not in _BLANK_LOOKING for c in text)
