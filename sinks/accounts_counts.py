"""A profile's post count: ``COUNT(*)`` over the author's ``posts_by_author`` partition (deletes leave it).

A scan of one partition, bounded by how much one person posts (thousands at most); follower and following
counts come from the graph (``follow_state.follower_count``, :class:`sinks.follow_lists.FollowLists`). The
author's only-me posts count for the author alone: for anyone else the count would both disagree with every list
of the author's posts and tell that such posts exist. Followers-only posts count for everyone, as a private
account's count is shown to everyone.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra.cluster import Session

from sinks.cassandra import execute


class PostCounts:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._count = session.prepare("SELECT COUNT(*) AS n FROM posts_by_author WHERE author_id = ?")
        self._only_me = session.prepare("SELECT COUNT(*) AS n FROM posts_by_author WHERE author_id = ? "
                                        "AND visibility = 'private' ALLOW FILTERING")  # one partition: a scan of it

    async def of(self, author_id: str, viewer: str | None) -> int:
        """How many posts ``author_id`` has, as ``viewer`` (None: anonymous) is told."""
        if viewer == author_id:
            return await self._counted(self._count, author_id)
        every, only_me = await asyncio.gather(self._counted(self._count, author_id),
                                              self._counted(self._only_me, author_id))
        return every - only_me

    async def _counted(self, statement: Any, author_id: str) -> int:
        rows = await execute(self._session, statement, (author_id,))
        return int(rows.current_rows[0].n)
