"""Pages of who follows a user and whom a user follows, from the graph tables (``followers``, ``following``).

Pages are keyset slices of one partition in clustering order (user id ascending), so follows and unfollows
elsewhere in the list never shift or repeat the pages already handed out.

Counts: a user's follower count is the graph's exact ``follow_state.follower_count`` (one row, see
:class:`sinks.graph.GraphReader`); the number of accounts a user follows is counted here with ``COUNT(*)`` over
their ``following`` partition — a scan of that one partition, bounded by how many accounts one user follows
(thousands at most, unlike a celebrity's followers, which are never counted this way).
"""

from __future__ import annotations

from typing import Literal

from cassandra.cluster import Session

from sinks.cassandra import execute

Direction = Literal["followers", "following"]


class FollowLists:
    def __init__(self, session: Session) -> None:
        self._session = session
        prepare = session.prepare
        self._first = {
            "followers": prepare("SELECT follower_id AS id FROM followers WHERE followee_id = ? LIMIT ?"),
            "following": prepare("SELECT followee_id AS id FROM following WHERE follower_id = ? LIMIT ?"),
        }
        self._after = {
            "followers": prepare(
                "SELECT follower_id AS id FROM followers WHERE followee_id = ? AND follower_id > ? LIMIT ?"),
            "following": prepare(
                "SELECT followee_id AS id FROM following WHERE follower_id = ? AND followee_id > ? LIMIT ?"),
        }
        self._count_following = prepare("SELECT COUNT(*) AS n FROM following WHERE follower_id = ?")

    async def page(self, direction: Direction, user_id: str, limit: int, after: str | None) -> list[str]:
        """Up to ``limit`` user ids of the list, in id order, after ``after`` if given."""
        if after is None:
            rows = await execute(self._session, self._first[direction], (user_id, limit))
        else:
            rows = await execute(self._session, self._after[direction], (user_id, after, limit))
        return [row.id for row in rows.current_rows]

    async def following_count(self, user_id: str) -> int:
        rows = await execute(self._session, self._count_following, (user_id,))
        return int(rows.current_rows[0].n)
