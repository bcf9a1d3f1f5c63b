"""Account rules, pure: what a username, an e-mail address and a password must be, and the refresh-token format.

Usernames and e-mail addresses are compared case-insensitively, so each is normalised (lower-cased) once, here,
and only the normalised form is stored and claimed: ``Alice`` and ``alice`` are one name.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass

from photostream.domain.text import shows_something

USERNAME_MIN, USERNAME_MAX = 3, 30
DISPLAY_NAME_MAX = 100
BIO_MAX = 500
PASSWORD_MIN = 10
#: hashing cost grows with the input; nobody's password is longer than this
PASSWORD_MAX = 1024
EMAIL_MAX = 254  # RFC 5321's path limit
_USERNAME = re.compile(rf"[a-z0-9_.]{{{USERNAME_MIN},{USERNAME_MAX}}}")
# a practical shape check (one @, a dotted domain, no spaces); deliverability is the mail system's business
#: no control character anywhere (a NUL was accepted, and stored): ``\x00-\x1f`` and DEL, besides spaces
_EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s.\x00-\x1f\x7f]+(\.[^@\s.\x00-\x1f\x7f]+)+")
REFRESH_PREFIX = "rt1"


class AccountRuleError(ValueError):
    """A field breaks a rule; ``field`` names it for the 422 answer."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def normalize_username(raw: str) -> str:
    """The canonical (lower-case) username, or :class:`AccountRuleError`."""
    name = raw.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise AccountRuleError("username", f"{USERNAME_MIN}–{USERNAME_MAX} characters of a-z, 0-9, '_' and '.'")
    return name


def new_username(raw: str) -> str:
    """The canonical form of a username someone registers now: :func:`normalize_username`, and no '.' at
    either end or twice in a row. A mention ends at a trailing dot (``@bob.`` ends a sentence), so ``bob.``
    could never be mentioned and ``@bob.`` notified ``bob``. Names registered before this rule keep working
    (logins and lookups use :func:`normalize_username`)."""
    name = normalize_username(raw)
    if name.startswith(".") or name.endswith(".") or ".." in name:
        raise AccountRuleError("username", "may not start or end with '.' or hold '..'")
    return name


#: explicit direction formatting: a name with U+202E shows its text reversed, and so can pass for another
#: (right-to-left scripts need none of these: their letters carry their direction, as do U+200E/U+200F)
_BIDI_FORMATTING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def check_display_name(name: str) -> str:
    """A name shown on one line: 1–100 characters, no control character (a NUL, a line break)."""
    if not 1 <= len(name) <= DISPLAY_NAME_MAX:
        raise AccountRuleError("display_name", f"between 1 and {DISPLAY_NAME_MAX} characters")
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):
        raise AccountRuleError("display_name", "control characters and line breaks (a NUL, U+2028) are not allowed "
                                               "in a name")
    if any(c in _BIDI_FORMATTING for c in name):
        raise AccountRuleError("display_name", "direction overrides, embeddings and isolates (U+202A–U+202E, "
                                               "U+2066–U+2069) are not allowed in a name")
    if not shows_something(name):
        raise AccountRuleError("display_name", "nothing visible (only spaces or invisible characters)")
    return name


def check_bio(bio: str) -> str:
    """Up to 500 characters; line breaks and tabs, but no other control character."""
    if len(bio) > BIO_MAX:
        raise AccountRuleError("bio", f"at most {BIO_MAX} characters")
    if any(unicodedata.category(c) == "Cc" and c not in "\n\t" for c in bio):
        raise AccountRuleError("bio", "control characters other than line breaks and tabs are not allowed")
    return bio


def normalize_email(raw: str) -> str:
    """The canonical (lower-case) address, or :class:`AccountRuleError`."""
    email = raw.strip().lower()
    if len(email) > EMAIL_MAX or not _EMAIL.fullmatch(email):
        raise AccountRuleError("email", "not an e-mail address")
    return email


def check_password(password: str, field: str = "password") -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise AccountRuleError(field, f"between {PASSWORD_MIN} and {PASSWORD_MAX} characters")
    return password


def is_email(login: str) -> bool:
    """A login names an account by e-mail when it holds an '@' (usernames cannot)."""
    return "@" in login


@dataclass(frozen=True)
class RefreshToken:
    """``rt1.<token id>.<secret>``: the id finds the stored row, the secret proves possession (only its hash is
    stored, so a copy of the table cannot be replayed as tokens)."""

    token_id: str
    secret: str

    def encode(self) -> str:
        return f"{REFRESH_PREFIX}.{self.token_id}.{self.secret}"

    @classmethod
    def new(cls, token_id: str) -> RefreshToken:
        return cls(token_id, secrets.token_urlsafe(32))

    @classmethod
    def parse(cls, text: str) -> RefreshToken | None:
        parts = text.split(".")
        if len(parts) != 3 or parts[0] != REFRESH_PREFIX or not parts[1] or len(parts[2]) < 32:
            return None
        return cls(parts[1], parts[2])


#: the longest an access token may live (``exp - iat``): a longer one is refused, so a revocation kept this long
#: (a password change, an account deletion) outlives every token it refuses. They were kept ``JWT_ACCESS_TTL_S``,
#: so a token minted longer (`photostream token --ttl`, or before the setting was lowered) came back to life once
#: the refusal expired.
MAX_ACCESS_LIFETIME_S = 30 * 24 * 3600


def outliving_every_token(access_ttl_s: int) -> int:
    """How long a refusal of every token of a user is kept: past the longest lifetime a token may have."""
    return max(access_ttl_s, MAX_ACCESS_LIFETIME_S) + 1
