"""Username → user id, in bulk: the ``usernames`` claim table (sinks/migrations/0008_accounts.cql) that
registration writes. Used to resolve ``@mentions``; names are looked up normalised (lower-case)."""

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

    async def owners(self, usernames: Iterable[str]) -> dict[str, str]:
        """The user id of each of ``usernames`` that is taken (one IN query per 100 names)."""
        wanted = sorted(set(usernames))
        results = await asyncio.gather(*(execute(self._session, self._q_owners, (wanted[i:i + _IN_CHUNK],))
                                         for i in range(0, len(wanted), _IN_CHUNK)))
        return {row.username: row.user_id for rows in results for row in rows.current_rows if row.user_id}
