"""Comments per post in Cassandra (``comments_by_post``): written by the comments projector, paged by the API.

Writes are absolute upserts keyed by comment id and timestamped with the event time, so duplicates and
replays change nothing. Comment ids are UUIDv7, so the clustering order (id descending) is newest first and a
page after a cursor is ``comment_id < cursor``: new comments never shift the pages already handed out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session

from sinks.cassandra import execute, execute_grouped, ms_of


@dataclass(frozen=True)
class Comment:
    comment_id: str
    post_id: str
    user_id: str
    text: str
    created_at: int  # ms


class CommentWriter:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._insert = session.prepare(
            "INSERT INTO comments_by_post (post_id, comment_id, user_id, text, created_at) VALUES (?, ?, ?, ?, ?) "
            "USING TIMESTAMP ?")

    async def apply(self, comments: Iterable[Comment]) -> None:
        """Write every comment (order-free: each is its own row, timestamped with the event time), grouped into a
        few UNLOGGED batches rather than a request per comment. One row each: an account's comments are found
        through the table's own index on ``user_id`` (migration 0019)."""
        await execute_grouped(self._session, [
            (self._insert, (c.post_id, c.comment_id, c.user_id, c.text, c.created_at, c.created_at * 1000))
            for c in comments])


class CommentReads:
    def __init__(self, session: Session) -> None:
        self._session = session
        columns = "comment_id, post_id, user_id, text, created_at"
        self._first = session.prepare(f"SELECT {columns} FROM comments_by_post WHERE post_id = ? LIMIT ?")
        self._after = session.prepare(
            f"SELECT {columns} FROM comments_by_post WHERE post_id = ? AND comment_id < ? LIMIT ?")

    async def newest(self, post_id: str, limit: int, before: str | None) -> list[Comment]:
        """Up to ``limit`` comments of the post, newest first, older than ``before`` if given."""
        if before is None:
            rows = await execute(self._session, self._first, (post_id, limit))
        else:
            rows = await execute(self._session, self._after, (post_id, before, limit))
        return [_comment(r) for r in rows.current_rows]


def _comment(row: Any) -> Comment:
    return Comment(row.comment_id, row.post_id, row.user_id, row.text, ms_of(row.created_at) if row.created_at else 0)
