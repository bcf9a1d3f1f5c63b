"""Username → user id, in bulk: the ``usernames`` claim table (sinks/migrations/0008_accounts.cql) that the
API's registration writes, then the profiles' own names (migration 0025's index) for users an upstream service
registered through the SDK. Used to resolve ``@mentions`` and ``GET /users/@name``; names are looked up
normalised (lower-case)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from cassandra.cluster import Session

from sinks.cassandra import execute

_IN_CHUNK = 100


class UsernameDirectory:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._q_owners = session.prepare("SELECT username, user_id FROM usernames WHERE username IN ?")
        self._q_profiles = session.prepare("SELECT user_id FROM users WHERE username = ?")

    async def owners(self, usernames: Iterable[str]) -> dict[str, str]:
        """The user id of each of ``usernames`` that someone holds: claimed through the API (one IN query per 100
        names), else the one profile of that name (a query per name left: a mention list is short)."""
        wanted = sorted(set(usernames))
        results = await asyncio.gather(*(execute(self._session, self._q_owners, (wanted[i:i + _IN_CHUNK],))
                                         for i in range(0, len(wanted), _IN_CHUNK)))
        claimed = {row.username: row.user_id for rows in results for row in rows.current_rows if row.user_id}
        unclaimed = [name for name in wanted if name not in claimed]
        profiles = await asyncio.gather(*(execute(self._session, self._q_profiles, (name,)) for name in unclaimed))
        for name, rows in zip(unclaimed, profiles, strict=True):
            holders = {row.user_id for row in rows.current_rows}
            if len(holders) == 1:  # (two upstream registrations of one name: ambiguous, nobody)
                claimed[name] = holders.pop()
        return claimed
