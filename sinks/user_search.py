"""Users by username prefix (``usernames_by_prefix``, migration 0035): what ``GET /search/users`` reads.

The profiles processor (:class:`sinks.profiles.ProfileSink`) writes a row for each profile's name, stamped with
the event's time; nothing deletes a renamed user's old row at once (the processor would need the name before the
update, and updates may be applied in any order). So a row is a candidate only: :meth:`UserSearch.matches`
keeps those whose profile still holds the name and deletes the rest as it finds them. A purge deletes the
account's row with the deletion's time, which a late profile event cannot outrank.
"""

from __future__ import annotations

from typing import Any

from cassandra.cluster import Session

from sinks.cassandra import execute, execute_grouped
from sinks.prefix_index import prefix_of, starting_with


class UserSearch:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._w = session.prepare("INSERT INTO usernames_by_prefix (prefix, username, user_id) VALUES (?, ?, ?) "
                                  "USING TIMESTAMP ?")
        self._d = session.prepare("DELETE FROM usernames_by_prefix USING TIMESTAMP ? "
                                  "WHERE prefix = ? AND username = ? AND user_id = ?")
        self._d_now = session.prepare("DELETE FROM usernames_by_prefix WHERE prefix = ? AND username = ? "
                                      "AND user_id = ?")
        self._q = session.prepare("SELECT username, user_id FROM usernames_by_prefix WHERE prefix = ? "
                                  "AND username >= ? AND username < ? LIMIT ?")

    def listing(self, user_id: str, username: str, at_ms: int) -> tuple[Any, tuple[Any, ...]]:
        """The statement listing ``user_id`` under ``username`` (for the profiles processor's grouped writes)."""
        return self._w, (prefix_of(username), username, user_id, at_ms * 1000)

    async def unlist(self, user_id: str, username: str, at_ms: int) -> None:
        """The account's row goes, at ``at_ms`` (a purge: its deletion time)."""
        await execute(self._session, self._d, (at_ms * 1000, prefix_of(username), username, user_id))

    async def candidates(self, query: str, limit: int) -> list[tuple[str, str]]:
        """(username, user id) of up to ``limit`` rows whose name starts with ``query`` (≥ 2 characters), in name
        order: stale rows included (see :meth:`matches`)."""
        rows = await execute(self._session, self._q, (*starting_with(query), limit))
        return [(row.username, row.user_id) for row in rows.current_rows]

    async def forget_stale(self, stale: list[tuple[str, str, int | None]]) -> None:
        """Delete rows found naming a profile that no longer holds the name: (name, user id, the time of the
        profile version holding another name, or None for a profile gone). Stamped with that version's time, so a
        later rename back to the name (listed with its own, later time) is not lost to this delete."""
        await execute_grouped(self._session, [
            (self._d_now, (prefix_of(name), name, user)) if at_ms is None
            else (self._d, (at_ms * 1000, prefix_of(name), name, user)) for name, user, at_ms in stale])

    async def matches(self, query: str, limit: int, profiles_of: Any) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``limit`` (user id, profile) whose current username starts with ``query``, in name order.
        ``profiles_of(ids)`` reads profiles (``sinks.profiles.read_profiles``). Reads twice the limit of rows
        so that stale ones rarely shorten the page, then deletes the stale ones it met."""
        found = await self.candidates(query, limit * 2)
        profiles = await profiles_of([user for _, user in found])
        current: list[tuple[str, dict[str, Any]]] = []
        stale: list[tuple[str, str, int | None]] = []
        for name, user in found:
            profile = profiles.get(user)
            if profile is not None and profile.get("username") == name:
                current.append((user, profile))
            else:
                stale.append((name, user, None if profile is None else int(profile["updated_at"])))
        if stale:
            await self.forget_stale(stale)
        return current[:limit]
