"""A profile's post count: ``COUNT(*)`` over the author's ``posts_by_author`` partition (deletes leave it).

A scan of one partition, bounded by how much one person posts (thousands at most); follower and following
counts come from the graph (``follow_state.follower_count``, :class:`sinks.follow_lists.FollowLists`).
"""

from __future__ import annotations

from cassandra.cluster import Session

from sinks.cassandra import execute


class PostCounts:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._count = session.prepare("SELECT COUNT(*) AS n FROM posts_by_author WHERE author_id = ?")

    async def of(self, author_id: str) -> int:
        rows = await execute(self._session, self._count, (author_id,))
        return int(rows.current_rows[0].n)
