"""An author's posts, newest first (``posts_by_author``): the profile grid's ids, paged by keyset.

Post ids are UUIDv7, so the clustering order (id descending) is newest first and a page after a cursor is
``post_id < cursor``: new posts never shift the pages already handed out.
"""

from __future__ import annotations

from cassandra.cluster import Session

from sinks.cassandra import execute


class AuthorPosts:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._first = session.prepare("SELECT post_id FROM posts_by_author WHERE author_id = ? LIMIT ?")
        self._after = session.prepare(
            "SELECT post_id FROM posts_by_author WHERE author_id = ? AND post_id < ? LIMIT ?")

    async def newest(self, author_id: str, limit: int, before: str | None) -> list[str]:
        """Up to ``limit`` post ids of the author, newest first, older than ``before`` if given."""
        if before is None:
            rows = await execute(self._session, self._first, (author_id, limit))
        else:
            rows = await execute(self._session, self._after, (author_id, before, limit))
        return [row.post_id for row in rows.current_rows]
