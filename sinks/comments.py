"""Comments per post in Cassandra (``comments_by_post``): written by the comments projector, paged by the API.

Writes are absolute upserts keyed by comment id and timestamped with the event time, so duplicates and
replays change nothing. A deletion is final: its tombstone carries :data:`sinks.posts.FINAL_MICROS`, above any
event time, so the comment-added it deletes (seen before or after it, or replayed) never shows again.
Comment ids are UUIDv7, so the clustering order (id descending) is newest first and a
page after a cursor is ``comment_id < cursor``: new comments never shift the pages already handed out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session

from sinks.cassandra import execute, execute_grouped, ms_of
from sinks.posts import FINAL_MICROS


@dataclass(frozen=True)
class Comment:
    comment_id: str
    post_id: str
    user_id: str
    text: str
    created_at: int  # ms


@dataclass(frozen=True)
class CommentGone:
    """A deleted comment."""

    comment_id: str
    post_id: str


class CommentWriter:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._insert = session.prepare(
            "INSERT INTO comments_by_post (post_id, comment_id, user_id, text, created_at) VALUES (?, ?, ?, ?, ?) "
            "USING TIMESTAMP ?")
        self._delete = session.prepare(
            "DELETE FROM comments_by_post USING TIMESTAMP ? WHERE post_id = ? AND comment_id = ?")

    async def apply(self, changes: Iterable[Comment | CommentGone]) -> None:
        """Write every comment and deletion (order-free: each is its own row, timestamped with the event time or,
        for a deletion, above every event time), grouped into a few UNLOGGED batches rather than a request per
        comment. One row each: an account's comments are found through the table's own index on ``user_id``
        (migration 0019), which a deletion leaves with its row."""
        await execute_grouped(self._session, [
            (self._insert, (c.post_id, c.comment_id, c.user_id, c.text, c.created_at, c.created_at * 1000))
            if isinstance(c, Comment) else (self._delete, (FINAL_MICROS, c.post_id, c.comment_id))
            for c in changes])


class CommentReads:
    def __init__(self, session: Session) -> None:
        self._session = session
        columns = "comment_id, post_id, user_id, text, created_at"
        self._first = session.prepare(f"SELECT {columns} FROM comments_by_post WHERE post_id = ? LIMIT ?")
        self._after = session.prepare(
            f"SELECT {columns} FROM comments_by_post WHERE post_id = ? AND comment_id < ? LIMIT ?")
        self._one = session.prepare(f"SELECT {columns} FROM comments_by_post WHERE post_id = ? AND comment_id = ?")

    async def one(self, post_id: str, comment_id: str) -> Comment | None:
        """The comment, if it is there (not deleted, and applied)."""
        row = (await execute(self._session, self._one, (post_id, comment_id))).one()
        return _comment(row) if row is not None else None

    async def newest(self, post_id: str, limit: int, before: str | None) -> list[Comment]:
        """Up to ``limit`` comments of the post, newest first, older than ``before`` if given."""
        if before is None:
            rows = await execute(self._session, self._first, (post_id, limit))
        else:
            rows = await execute(self._session, self._after, (post_id, before, limit))
        return [_comment(r) for r in rows.current_rows]


def _comment(row: Any) -> Comment:
    return Comment(row.comment_id, row.post_id, row.user_id, row.text, ms_of(row.created_at) if row.created_at else 0)
