"""Pending follow requests to private accounts: ``follow_requests`` (partition = the requested account).

Written by the follow_requests processor from ``follow-requested``: a request is an INSERT, an approval or a
denial a DELETE, each with the event time as cell timestamp, so Cassandra keeps the newest event of a pair
whatever order they arrive in and a replay changes nothing. Read by the owner's request list and by the
approve/deny endpoints (which answer 404 for a request that is not pending).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session

from sinks.cassandra import execute, execute_grouped, ms_of


@dataclass(frozen=True)
class RequestChange:
    follower_id: str
    followee_id: str
    pending: bool  # True: requested; False: approved or denied
    occurred_at: int  # ms
    event_id: str = ""  # the event's (a retraction's id derives from it: streams.closed_accounts_acts)


@dataclass(frozen=True)
class PendingRequest:
    follower_id: str
    requested_at: int  # ms


class FollowRequests:
    def __init__(self, session: Session) -> None:
        self.session = session
        prepare = session.prepare
        self._w_request = prepare("INSERT INTO follow_requests (followee_id, follower_id, requested_at) "
                                  "VALUES (?, ?, ?) USING TIMESTAMP ?")
        self._w_close = prepare("DELETE FROM follow_requests USING TIMESTAMP ? "
                                "WHERE followee_id = ? AND follower_id = ?")
        self._q_one = prepare("SELECT requested_at FROM follow_requests WHERE followee_id = ? AND follower_id = ?")
        self._q_first = prepare("SELECT follower_id, requested_at FROM follow_requests WHERE followee_id = ? "
                                "LIMIT ?")
        self._q_after = prepare("SELECT follower_id, requested_at FROM follow_requests WHERE followee_id = ? "
                                "AND follower_id > ? LIMIT ?")
        # (the index on follower_id: migration 0031)
        self._q_sent = prepare("SELECT followee_id FROM follow_requests WHERE follower_id = ? LIMIT ?")

    async def apply(self, changes: list[RequestChange]) -> None:
        """Timestamped upserts and deletes, order-free: grouped into a few UNLOGGED batches."""
        await execute_grouped(self.session, [self._write(c) for c in changes])

    def _write(self, change: RequestChange) -> tuple[Any, tuple[Any, ...]]:
        micros = change.occurred_at * 1000
        if change.pending:
            return self._w_request, (change.followee_id, change.follower_id, change.occurred_at, micros)
        return self._w_close, (micros, change.followee_id, change.follower_id)

    async def is_pending(self, followee_id: str, follower_id: str) -> bool:
        return (await execute(self.session, self._q_one, (followee_id, follower_id))).one() is not None

    async def sent_by(self, follower_id: str, limit: int) -> set[str]:
        """The accounts ``follower_id`` asked to follow and that have not answered (up to ``limit``)."""
        return {row.followee_id for row in (await execute(self.session, self._q_sent, (follower_id, limit)))}

    async def page(self, followee_id: str, limit: int, after: str | None) -> list[PendingRequest]:
        """Up to ``limit`` pending requests to ``followee_id``, in requester-id order, after ``after``."""
        if after is None:
            rows: Any = await execute(self.session, self._q_first, (followee_id, limit))
        else:
            rows = await execute(self.session, self._q_after, (followee_id, after, limit))
        return [PendingRequest(r.follower_id, ms_of(r.requested_at) if r.requested_at else 0)
                for r in rows.current_rows]
