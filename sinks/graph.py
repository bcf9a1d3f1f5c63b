"""The follow graph in Cassandra: written by the graph projector, read by every visibility check.

Writes are absolute and carry the event time as cell timestamp (follow = INSERT, unfollow = DELETE), so the
last event of a pair by ``occurred_at`` wins whatever the arrival order, and replays are no-ops.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session

from sinks.cassandra import execute

_MAX_IN_FLIGHT = 64
_IN_CHUNK = 100


@dataclass(frozen=True)
class FollowChange:
    follower_id: str
    followee_id: str
    follow: bool
    occurred_at: int  # ms


class GraphWriter:
    """Applies follow changes to both directions of the graph."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._gate = asyncio.Semaphore(_MAX_IN_FLIGHT)
        prepare = session.prepare
        self._follow = (
            prepare("INSERT INTO following (follower_id, followee_id, since) VALUES (?, ?, ?) USING TIMESTAMP ?"),
            prepare("INSERT INTO followers (followee_id, follower_id, since) VALUES (?, ?, ?) USING TIMESTAMP ?"),
        )
        self._unfollow = (
            prepare("DELETE FROM following USING TIMESTAMP ? WHERE follower_id = ? AND followee_id = ?"),
            prepare("DELETE FROM followers USING TIMESTAMP ? WHERE followee_id = ? AND follower_id = ?"),
        )

    async def _run(self, statement: Any, params: tuple[Any, ...]) -> None:
        async with self._gate:
            await execute(self._session, statement, params)

    async def apply(self, changes: Iterable[FollowChange]) -> None:
        """Write every change (both directions); order-free, so all run concurrently (bounded)."""
        writes: list[tuple[Any, tuple[Any, ...]]] = []
        for c in changes:
            micros = c.occurred_at * 1000
            if c.follow:
                writes.append((self._follow[0], (c.follower_id, c.followee_id, c.occurred_at, micros)))
                writes.append((self._follow[1], (c.followee_id, c.follower_id, c.occurred_at, micros)))
            else:
                writes.append((self._unfollow[0], (micros, c.follower_id, c.followee_id)))
                writes.append((self._unfollow[1], (micros, c.followee_id, c.follower_id)))
        await asyncio.gather(*(self._run(statement, params) for statement, params in writes))


class GraphReader:
    """Reads of the graph for the API (prepared once per process)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._q_followed = session.prepare(
            "SELECT followee_id FROM following WHERE follower_id = ? AND followee_id IN ?")

    async def followed_among(self, follower_id: str, candidates: Iterable[str]) -> set[str]:
        """Which of ``candidates`` ``follower_id`` follows now (one IN query per chunk)."""
        wanted = sorted(set(candidates))
        chunks = [wanted[i:i + _IN_CHUNK] for i in range(0, len(wanted), _IN_CHUNK)]
        results = await asyncio.gather(*(execute(self._session, self._q_followed, (follower_id, chunk))
                                         for chunk in chunks))
        return {row.followee_id for rows in results for row in rows}
