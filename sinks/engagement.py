"""Per-post engagement (likes, comments) as exact set transitions in one Cassandra partition per post."""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType

from photostream.domain.engagement import Engagement
from sinks.cassandra import execute


class EngagementStore:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._gate = asyncio.Semaphore(64)
        self._q_counts = session.prepare(
            "SELECT like_count, comment_count FROM post_engagement WHERE post_id = ? LIMIT 1")
        self._q_members = session.prepare(
            "SELECT kind, key, liked FROM post_engagement WHERE post_id = ? AND kind = ? AND key IN ?")
        self._w_counts = session.prepare(
            "UPDATE post_engagement SET like_count = ?, comment_count = ? WHERE post_id = ?")
        self._w_member = session.prepare(
            "INSERT INTO post_engagement (post_id, kind, key, liked) VALUES (?, ?, ?, ?)")
        self._q_tags = session.prepare("SELECT tags, created_at, deleted FROM post_hashtags WHERE post_id = ?")

    async def _run(self, statement: Any, params: Any) -> Any:
        async with self._gate:
            return await execute(self._session, statement, params)

    async def load(self, post_id: str, users: set[str], comment_ids: set[str]) -> Engagement:
        counts, likes, comments = await asyncio.gather(
            self._run(self._q_counts, (post_id,)),
            self._run(self._q_members, (post_id, "l", list(users))),
            self._run(self._q_members, (post_id, "c", list(comment_ids))),
        )
        row = counts.one()
        state = Engagement(post_id, int(row.like_count or 0) if row else 0, int(row.comment_count or 0) if row else 0)
        state.likes = {r.key: bool(r.liked) for r in likes}
        state.comments = {r.key for r in comments}
        return state

    async def save(self, state: Engagement) -> None:
        if not state.dirty:
            return
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        batch.add(self._w_counts, (state.like_count, state.comment_count, state.post_id))
        for user, liked in state.changed_likes.items():
            batch.add(self._w_member, (state.post_id, "l", user, liked))
        for comment_id in state.new_comments:
            batch.add(self._w_member, (state.post_id, "c", comment_id, True))
        await self._run(batch, None)

    async def tags_of(self, post_id: str) -> tuple[list[str], int] | None:
        """The post's hashtags and creation time, or None if it has none or was deleted."""
        row = (await self._run(self._q_tags, (post_id,))).one()
        if row is None or row.deleted or not row.tags:
            return None
        return list(row.tags), int(row.created_at.timestamp() * 1000)
