"""The follow graph in Cassandra: written by the feeds processor, read by fan-out and every visibility check.

Three tables (sinks/migrations/0004, 0005, 0027): ``follow_state`` keeps each pair's last-writer-wins state (by
time, then event id: :mod:`photostream.domain.follows`) and the followee's exact follower count, changed only on
a real transition and written per followee in one atomic batch; ``following`` and ``followers`` are the two
directions, written from each touched pair's resolved state as INSERT (following) / DELETE (not) with the
state's ``edge_ts`` as cell timestamp, raised with every change, so a replay rewrites the same cells and the
newer state's write always wins (with the event time as timestamp, a DELETE won a same-millisecond tie).

Erasure: once an account's deletion is accepted, the pair state of an unfollow involving it is deleted rather
than written (the purge's retractions still move the other side's count first), and a closed followee's count
goes too, so ``follow_state`` keeps no history of who followed whom; the purge deletes the rest
(``AccountPurge._follow_history_gone`` in :mod:`sinks.account_purge`).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType

from photostream.domain.follows import PairState, apply_change, count_delta
from sinks.cassandra import Gated, execute, execute_grouped, key_chunks, pages, rows_if_few
from sinks.cassandra_binding import add_bound
from sinks.partition_cache import PartitionCache

_IN_CHUNK = 100

Pair = tuple[str, str]  # (follower_id, followee_id)


@dataclass(frozen=True)
class FollowChange:
    follower_id: str
    followee_id: str
    follow: bool
    occurred_at: int  # ms
    event_id: str = ""  # breaks a tie of ``occurred_at`` (see photostream/domain/follows.py)



class GraphWriter:
    """Applies follow changes: pair state and counts (exact), and both directions of the graph."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._run = Gated(session).run
        prepare = session.prepare
        self._q_pairs = prepare("SELECT follower_id, following, changed_at, changed_by, edge_ts FROM follow_state "
                                "WHERE followee_id = ? AND follower_id IN ?")
        self._q_count = prepare("SELECT follower_count FROM follow_state WHERE followee_id = ? LIMIT 1")
        self._w_pair = prepare("INSERT INTO follow_state (followee_id, follower_id, following, changed_at, "
                               "changed_by, edge_ts) VALUES (?, ?, ?, ?, ?, ?)")
        self._w_count = prepare("UPDATE follow_state SET follower_count = ? WHERE followee_id = ?")
        self._d_pair = prepare("DELETE FROM follow_state WHERE followee_id = ? AND follower_id = ?")
        self._d_count = prepare("DELETE follower_count FROM follow_state WHERE followee_id = ?")
        self._follow = (
            prepare("INSERT INTO following (follower_id, followee_id, since) VALUES (?, ?, ?) USING TIMESTAMP ?"),
            prepare("INSERT INTO followers (followee_id, follower_id, since) VALUES (?, ?, ?) USING TIMESTAMP ?"),
        )
        self._unfollow = (
            prepare("DELETE FROM following USING TIMESTAMP ? WHERE follower_id = ? AND followee_id = ?"),
            prepare("DELETE FROM followers USING TIMESTAMP ? WHERE followee_id = ? AND follower_id = ?"),
        )

    async def apply(self, changes: list[FollowChange], closed: frozenset[str] = frozenset()) -> dict[Pair, bool]:
        """Apply ``changes``; return whether each touched pair follows now (its absolute state, so effects
        derived from it are right even when a replay finds the transitions already made). ``closed``: accounts
        whose deletion was accepted; the caller drops their follows, and their unfollows leave no pair state."""
        by_followee: dict[str, list[FollowChange]] = defaultdict(list)
        for change in changes:
            by_followee[change.followee_id].append(change)
        states = await asyncio.gather(*(self._apply_followee(f, cs, closed) for f, cs in by_followee.items()))
        resolved = {pair: state for found in states for pair, state in found.items()}
        # the edges of every touched pair from its resolved state (after the state is durable: a crash between
        # the two is replayed, and the replay writes the same cells again), so any grouping is safe
        await execute_grouped(self.session, self._edges(resolved))
        return {pair: state.following for pair, state in resolved.items()}

    async def _apply_followee(self, followee: str, changes: list[FollowChange],
                              closed: frozenset[str]) -> dict[Pair, PairState]:
        loaded, count_rows = await asyncio.gather(
            asyncio.gather(*(self._run(self._q_pairs, (followee, chunk))
                             for chunk in key_chunks(c.follower_id for c in changes))),
            self._run(self._q_count, (followee,)),
        )
        before = {r.follower_id: PairState(bool(r.following), int(r.changed_at), r.changed_by or "",
                                           int(r.edge_ts or 0))
                  for rows in loaded for r in rows if r.changed_at is not None}
        count_row = count_rows.one()
        count = int(count_row.follower_count or 0) if count_row is not None else 0
        after: dict[str, PairState | None] = dict(before)
        for change in changes:
            after[change.follower_id] = apply_change(after.get(change.follower_id), change.follow,
                                                     change.occurred_at, change.event_id)
        changed = {f: s for f, s in after.items() if s is not None and s != before.get(f)}
        if changed:
            count += sum(count_delta(before.get(f), s) for f, s in changed.items())
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)  # one partition: atomic and isolated
            for follower, state in changed.items():
                if not state.following and (follower in closed or followee in closed):
                    add_bound(batch, self._d_pair, (followee, follower))
                else:
                    add_bound(batch, self._w_pair, (followee, follower, state.following, state.changed_at,
                                                    state.changed_by or None, state.edge_ts))
            if followee in closed:
                add_bound(batch, self._d_count, (followee,))
            else:
                add_bound(batch, self._w_count, (max(count, 0), followee))
            await self._run(batch)
        touched = {c.follower_id for c in changes}
        return {(f, followee): s for f, s in after.items() if f in touched and s is not None}

    def _edges(self, resolved: dict[Pair, PairState]) -> list[tuple[Any, tuple[Any, ...]]]:
        writes: list[tuple[Any, tuple[Any, ...]]] = []
        for (follower, followee), state in resolved.items():
            micros = state.edge_ts or state.changed_at * 1000
            if state.following:
                writes.append((self._follow[0], (follower, followee, state.changed_at, micros)))
                writes.append((self._follow[1], (followee, follower, state.changed_at, micros)))
            else:
                writes.append((self._unfollow[0], (micros, follower, followee)))
                writes.append((self._unfollow[1], (micros, followee, follower)))
        return writes


class GraphReader:
    """Reads of the graph (prepared once per process). With ``following_copies`` (the API's readers), whom a
    user follows is answered from the Redis copy of their ``following`` partition (:mod:`sinks.partition_cache`;
    the feeds processor, which writes the partition, drops the copy after each write)."""

    def __init__(self, session: Session, following_copies: PartitionCache | None = None) -> None:
        self._session = session
        self._copies = following_copies
        self._q_followed = session.prepare(
            "SELECT followee_id FROM following WHERE follower_id = ? AND followee_id IN ?")
        self._q_following = session.prepare("SELECT followee_id FROM following WHERE follower_id = ?")
        self._q_following_few = session.prepare("SELECT followee_id FROM following WHERE follower_id = ? LIMIT ?")
        self._q_followers = session.prepare("SELECT follower_id FROM followers WHERE followee_id = ?")
        self._q_followers_of_many = session.prepare(
            "SELECT followee_id, follower_id FROM followers WHERE followee_id IN ?")
        self._q_counts = session.prepare(
            "SELECT followee_id, follower_count FROM follow_state WHERE followee_id IN ? PER PARTITION LIMIT 1")

    async def followed_among(self, follower_id: str, candidates: Iterable[str]) -> set[str]:
        """Which of ``candidates`` ``follower_id`` follows now: from the Redis copy when there is one, else one
        IN query per chunk, or for many candidates (a feed read asks about every celebrity) the accounts the
        user follows read whole, when they are few."""
        wanted = set(candidates)
        if not wanted:
            return set()
        if self._copies is not None:
            copied = await self._followed_copied(follower_id, wanted)
            if copied is not None:
                return copied
        if len(wanted) > _IN_CHUNK:
            rows = await rows_if_few(self._session, self._q_following_few, (follower_id,))
            if rows is not None:
                return {row.followee_id for row in rows} & wanted
        results = await asyncio.gather(*(execute(self._session, self._q_followed, (follower_id, chunk))
                                         for chunk in key_chunks(wanted)))
        return {row.followee_id for rows in results for row in rows.current_rows}

    async def _followed_copied(self, follower_id: str, wanted: set[str]) -> set[str] | None:
        """The answer from the user's Redis copy (None when it cannot answer)."""
        async def whole() -> dict[str, str] | None:
            rows = await rows_if_few(self._session, self._q_following_few, (follower_id,))
            return None if rows is None else {row.followee_id: "1" for row in rows}

        assert self._copies is not None
        found = await self._copies.rows_of(follower_id, wanted, whole)
        return None if found is None else set(found)

    async def following(self, follower_id: str) -> list[str]:
        """Everyone ``follower_id`` follows (paged reads)."""
        return [row.followee_id async for page in pages(self._session, self._q_following, (follower_id,), 1000)
                for row in page]

    async def follower_pages(self, followee_id: str, page_size: int) -> AsyncIterator[list[str]]:
        """The followers of ``followee_id``, a page at a time (fan-out never holds a celebrity's list)."""
        async for page in pages(self._session, self._q_followers, (followee_id,), page_size):
            yield [row.follower_id for row in page]

    async def followers_of_many(self, followee_ids: Iterable[str], page_size: int = 5_000) -> dict[str, list[str]]:
        """Every follower of each of ``followee_ids``, one paged IN read per chunk of followees: for the many
        authors of a batch with a handful of followers each, where one read per author would cost a request
        each. Callers pass authors whose follower counts they know to be small."""
        found: dict[str, list[str]] = {f: [] for f in followee_ids}
        for chunk in key_chunks(found):
            async for page in pages(self._session, self._q_followers_of_many, (chunk,), page_size):
                for row in page:
                    found[row.followee_id].append(row.follower_id)
        return found

    async def follower_counts(self, user_ids: Iterable[str]) -> dict[str, int]:
        results = await asyncio.gather(*(execute(self._session, self._q_counts, (chunk,))
                                         for chunk in key_chunks(user_ids)))
        return {row.followee_id: int(row.follower_count or 0) for rows in results for row in rows.current_rows}
