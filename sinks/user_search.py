"""Users by what they are called (``users_by_prefix``, migration 0035): what ``GET /search/users`` reads.

A profile is listed under its terms: its username, and each word of its display name folded (lower case, accents
off: "Zoë Saldaña" is found by "zoe" and "salda"). The profiles processor (:class:`sinks.profiles.ProfileSink`)
writes a row per term from each profile row it wrote, stamped with the profile's time; nothing deletes a renamed
user's old rows at once (the processor would need the profile before the update, and updates may be applied in
any order). So a row is a candidate only: :meth:`UserSearch.matches` keeps those whose profile still holds the
term and deletes the rest as it finds them. A purge deletes the account's rows with the deletion's time, which a
late profile event cannot outrank.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

from cassandra.cluster import Session

from sinks.cassandra import execute, execute_grouped
from sinks.prefix_index import PREFIX_CHARS, prefix_of, starting_with

#: a query's words: runs of letters and digits, plus the characters of a username ('_', '.')
_QUERY_WORD = re.compile(r"[\w.]+")
#: a display name's words: runs of letters and digits
_NAME_WORD = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Lower case, compatibility forms and accents off: how terms are stored and queries compared."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))


def terms_of(username: str | None, display_name: str | None) -> set[str]:
    """What a profile is found by: its username, each word of its display name (2 characters or more)."""
    words = {w for w in _NAME_WORD.findall(fold(display_name or "")) if len(w) >= PREFIX_CHARS}
    return words | ({username} if username else set())


def query_words(query: str) -> list[str]:
    """The words of what was typed (folded, an ``@`` before a username allowed), longest first."""
    return sorted(_QUERY_WORD.findall(fold(query.strip().removeprefix("@"))), key=len, reverse=True)


def found_by(words: list[str], profile: dict[str, Any]) -> bool:
    """Every word typed starts one of the profile's terms."""
    terms = terms_of(profile.get("username"), profile.get("display_name"))
    return all(any(term.startswith(word) for term in terms) for word in words)


class UserSearch:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._w = session.prepare("INSERT INTO users_by_prefix (prefix, term, user_id) VALUES (?, ?, ?) "
                                  "USING TIMESTAMP ?")
        self._d = session.prepare("DELETE FROM users_by_prefix USING TIMESTAMP ? "
                                  "WHERE prefix = ? AND term = ? AND user_id = ?")
        self._d_now = session.prepare("DELETE FROM users_by_prefix WHERE prefix = ? AND term = ? AND user_id = ?")
        self._q = session.prepare("SELECT term, user_id FROM users_by_prefix WHERE prefix = ? "
                                  "AND term >= ? AND term < ? LIMIT ?")

    def listings(self, user_id: str, username: str | None, display_name: str | None, at_ms: int
                 ) -> list[tuple[Any, tuple[Any, ...]]]:
        """The statements listing ``user_id`` under each of its terms (for the profiles processor's grouped
        writes), stamped ``at_ms``: the profile's own time."""
        return [(self._w, (prefix_of(term), term, user_id, at_ms * 1000))
                for term in sorted(terms_of(username, display_name))]

    async def unlist(self, user_id: str, username: str | None, display_name: str | None, at_ms: int) -> None:
        """The account's rows go, at ``at_ms`` (a purge: its deletion time)."""
        await execute_grouped(self._session, [(self._d, (at_ms * 1000, prefix_of(term), term, user_id))
                                              for term in terms_of(username, display_name)])

    async def candidates(self, word: str, limit: int) -> list[tuple[str, str]]:
        """(term, user id) of up to ``limit`` rows whose term starts with ``word`` (≥ 2 characters), in term
        order: stale rows included (see :meth:`matches`)."""
        rows = await execute(self._session, self._q, (*starting_with(word), limit))
        return [(row.term, row.user_id) for row in rows.current_rows]

    async def forget_stale(self, stale: Iterable[tuple[str, str, int | None]]) -> None:
        """Delete rows found naming a profile that no longer holds the term: (term, user id, the time of the
        profile version without it, or None for a profile gone). Stamped with that version's time, so a later
        rename back (listed with its own, later time) is not lost to this delete."""
        await execute_grouped(self._session, [
            (self._d_now, (prefix_of(term), term, user)) if at_ms is None
            else (self._d, (at_ms * 1000, prefix_of(term), term, user)) for term, user, at_ms in stale])

    async def matches(self, words: list[str], limit: int, profiles_of: Any) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``limit`` (user id, profile) found by every word of ``words`` (:func:`query_words`: the first,
        the longest, picks the rows), each once, in the order of its first row. ``profiles_of(ids)`` reads
        profiles (``sinks.profiles.read_profiles``). Reads twice the limit of rows, so that stale rows and
        profiles the other words leave out rarely shorten the page, then deletes the stale rows it met."""
        found = await self.candidates(words[0], limit * 2)
        profiles = await profiles_of(list(dict.fromkeys(user for _, user in found)))
        kept: dict[str, dict[str, Any]] = {}
        stale: list[tuple[str, str, int | None]] = []
        for term, user in found:
            profile = profiles.get(user)
            if profile is None or term not in terms_of(profile.get("username"), profile.get("display_name")):
                stale.append((term, user, None if profile is None else int(profile["updated_at"])))
            elif user not in kept and found_by(words, profile):
                kept[user] = profile
        if stale:
            await self.forget_stale(stale)
        return list(kept.items())[:limit]
