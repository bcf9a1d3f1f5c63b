"""Per-post engagement (likes, comments) as exact set transitions in one Cassandra partition per post."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session

from photostream.domain.engagement import Engagement
from sinks.cassandra import Gated, applied, execute_grouped, execute_partitions, key_chunks, ms_of, pages


async def _no_rows() -> list[Any]:
    return []


@dataclass(frozen=True)
class PostTags:
    tags: list[str]
    created_at: int
    deleted: bool


class EngagementStore:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._run = Gated(session).run
        self._q_members = session.prepare(
            "SELECT kind, key, liked, liked_at, liked_by FROM post_engagement "
            "WHERE post_id = ? AND kind = ? AND key IN ?")
        self._w_counts = session.prepare(
            "UPDATE post_engagement SET like_count = ?, comment_count = ? WHERE post_id = ?")
        self._w_member = session.prepare(
            "INSERT INTO post_engagement (post_id, kind, key, liked, liked_at, liked_by) VALUES (?, ?, ?, ?, ?, ?)")
        self._q_tags = session.prepare(
            "SELECT post_id, tags, created_at, deleted FROM post_hashtags WHERE post_id IN ?")
        self._q_counts_in = session.prepare(
            "SELECT post_id, like_count, comment_count FROM post_engagement WHERE post_id IN ? PER PARTITION LIMIT 1")
        self._q_all_counts = session.prepare("SELECT DISTINCT post_id, like_count, comment_count FROM post_engagement")
        self._q_all_members = session.prepare("SELECT post_id, kind, liked FROM post_engagement")
        self._q_partition = session.prepare(
            "SELECT kind, liked, like_count, comment_count FROM post_engagement WHERE post_id = ?")
        self._w_counts_if = session.prepare(
            "UPDATE post_engagement SET like_count = ?, comment_count = ? WHERE post_id = ? "
            "IF like_count = ? AND comment_count = ?")
        #: the likes-by-user index (migration 0014): how an account deletion finds the likes to retract
        self._w_liker = session.prepare("INSERT INTO likes_by_user (user_id, post_id) VALUES (?, ?)")
        self._d_liker = session.prepare("DELETE FROM likes_by_user WHERE user_id = ? AND post_id = ?")

    async def load_many(self, wanted: Mapping[str, tuple[set[str], set[str]]]) -> dict[str, Engagement]:
        """Each post's counts (one IN query per 100 posts, not one per post) and the membership of the likers
        and comments the batch touches, per post ``(users, comment_ids)`` (a kind it does not touch is not
        asked about)."""
        counts, members = await asyncio.gather(
            self.counts_of(set(wanted)),
            asyncio.gather(*(self._members_of(post_id, users, comment_ids)
                             for post_id, (users, comment_ids) in wanted.items())))
        states: dict[str, Engagement] = {}
        for post_id, (likes, comments) in zip(wanted, members, strict=True):
            likes = list(likes)  # read twice below (a driver result set is consumed by its first pass)
            state = Engagement(post_id, *counts.get(post_id, (0, 0)))
            state.likes = {r.key: bool(r.liked) for r in likes}
            state.like_times = {r.key: int(r.liked_at or 0) for r in likes}  # (rows before migration 0022: 0)
            state.like_events = {r.key: r.liked_by or "" for r in likes}  # (before migration 0026: "")
            state.comments = {r.key: bool(r.liked) for r in comments}  # (``liked`` of a comment: still there)
            states[post_id] = state
        return states

    async def _members_of(self, post_id: str, users: set[str], comment_ids: set[str]) -> tuple[Any, Any]:
        return await asyncio.gather(
            self._run(self._q_members, (post_id, "l", list(users))) if users else _no_rows(),
            self._run(self._q_members, (post_id, "c", list(comment_ids))) if comment_ids else _no_rows())

    async def save(self, states: list[Engagement]) -> None:
        """Write a batch's posts: every like index row first, then each changed post's counts and memberships
        (one partition each, kept whole in its batch so it moves atomically; small posts share a request)."""
        # the index first, from the absolute state of every like the batch touched (not only the changed
        # ones): a batch retried after its memberships were saved finds no change, and still repairs it;
        # idempotent rows in different partitions, so grouped into a few UNLOGGED batches, not one request each
        await execute_grouped(self._session, [(self._w_liker if liked else self._d_liker, (user, state.post_id))
                                              for state in states for user, liked in state.likes.items()])
        await execute_partitions(self._run, [self._writes(state) for state in states if state.dirty])

    def _writes(self, state: Engagement) -> list[tuple[Any, tuple[Any, ...]]]:
        writes: list[tuple[Any, tuple[Any, ...]]] = [
            (self._w_counts, (state.like_count, state.comment_count, state.post_id))]
        writes += [(self._w_member, (state.post_id, "l", user, liked, state.like_times.get(user, 0),
                                     state.like_events.get(user) or None))
                   for user, liked in state.changed_likes.items()]
        writes += [(self._w_member, (state.post_id, "c", comment_id, there, None, None))
                   for comment_id, there in state.changed_comments.items()]
        return writes

    async def _in_chunks(self, statement: Any, post_ids: set[str]) -> list[Any]:
        """One IN query per chunk of ids (never one query per post)."""
        results = await asyncio.gather(*(self._run(statement, (chunk,)) for chunk in key_chunks(post_ids)))
        return [row for result in results for row in result.current_rows]

    async def tags_of(self, post_ids: set[str]) -> dict[str, PostTags]:
        """The remembered hashtags of these posts (posts without tags are absent)."""
        return {r.post_id: PostTags(list(r.tags or []), ms_of(r.created_at) if r.created_at else 0, bool(r.deleted))
                for r in await self._in_chunks(self._q_tags, post_ids)}

    async def counts_of(self, post_ids: set[str]) -> dict[str, tuple[int, int]]:
        """(likes, comments) of these posts; posts nobody engaged with are absent."""
        return {r.post_id: (int(r.like_count or 0), int(r.comment_count or 0))
                for r in await self._in_chunks(self._q_counts_in, post_ids)}

    async def member_counts(self) -> dict[str, tuple[int, int]]:
        """Every post's (likes, comments) counted from its membership rows, not its stored counts: what the
        counts must be (a full scan, for rebuilds: two loops that both owned a post once lost updates)."""
        found: dict[str, tuple[int, int]] = {}
        async for rows in pages(self._session, self._q_all_members, (), 5000):
            for r in rows:
                likes, comments = found.get(r.post_id, (0, 0))
                if r.liked and r.kind == "l":
                    likes += 1
                elif r.liked and r.kind == "c":
                    comments += 1
                found[r.post_id] = (likes, comments)
        return found

    async def repair_counts(self, post_id: str) -> tuple[int, int] | None:
        """Set the post's stored counts to what its rows say, if they still contradict them: one read of the
        partition (counts and rows together), then a write conditional on the counts read, so a save by the
        popularity processor in between is never overwritten with older counts. The counts set, or None."""
        found = await self._counts_and_members(post_id)
        if found is None:
            return None
        (likes, comments), members = found
        if (int(likes or 0), int(comments or 0)) == members:
            return None
        written = await self._run(self._w_counts_if, (*members, post_id, likes, comments))
        return members if applied(written) else None

    async def contradicted_counts(self, post_ids: list[str]) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
        """Of ``post_ids``, the posts whose stored counts contradict their rows, read together (one partition
        read each: for the few a full scan found, to tell a save that landed between its two scans from a lost
        update): post → (stored, counted from the rows)."""
        contradicted = {}
        for post_id, found in zip(post_ids, await asyncio.gather(*map(self._counts_and_members, post_ids)),
                                  strict=True):
            if found is None:
                continue
            stored, members = (int(found[0][0] or 0), int(found[0][1] or 0)), found[1]
            if stored != members:
                contradicted[post_id] = (stored, members)
        return contradicted

    async def _counts_and_members(self, post_id: str) -> tuple[tuple[Any, Any], tuple[int, int]] | None:
        """The post's stored counts as read (None where unset) and its (likes, comments) counted from its rows,
        from one read of its partition; None for a post with no partition."""
        rows = (await self._run(self._q_partition, (post_id,))).current_rows
        if not rows:
            return None
        members = (sum(1 for r in rows if r.kind == "l" and r.liked), sum(1 for r in rows if r.kind == "c" and r.liked))
        return (rows[0].like_count, rows[0].comment_count), members

    async def all_counts(self) -> dict[str, tuple[int, int]]:
        """Every post's (likes, comments): a full scan, for rebuilds."""
        found: dict[str, tuple[int, int]] = {}
        async for rows in pages(self._session, self._q_all_counts, (), 5000):
            found.update((r.post_id, (int(r.like_count or 0), int(r.comment_count or 0))) for r in rows)
        return found
