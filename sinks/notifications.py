"""Notifications in Cassandra (sinks/migrations/0012_notifications.cql): membership rows, the aggregated rows
derived from them, and the readers' marks.

Why membership rows and not counters: the events feeding one recipient come from topics keyed differently
(likes by post, follows by followee, caption mentions by author), so no consumer owns a recipient. Instead every
write is absolute and timestamped with the event time (an add is an INSERT, a retraction a DELETE, both
``USING TIMESTAMP``): duplicates, replays and reorderings converge, and no write needs to know another's.
The counts are then *derived* — the exact number of rows in a group's slice — never incremented, so a
redelivered like cannot count twice. Each group is fed by one topic partition (see
:mod:`photostream.domain.notifications`), so the derive-and-rewrite of its aggregate row is never raced.

Cost per batch and series (a hot post's likes): one single-partition UNLOGGED batch of membership and
``latest`` rows per 1,000 actors, one aggregate write, and the derive: a small group's slice is read whole; a
large one (a celebrity post's hour of likes) is not re-read on every batch — its count is a server-side COUNT
and its newest actors come from the stored aggregate's actors and the batch's own, read back by key (exact:
see :meth:`NotificationStore._derive_large`).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from cachetools import LRUCache
from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType

from photostream.domain.notifications import (
    COMMENT_KINDS,
    Aggregate,
    Group,
    MemberChange,
    Series,
    aggregate,
    bucket_of,
    parse_notification_id,
    target_kind_of,
)
from sinks.cassandra import Gated, key_chunks, pages
from sinks.cassandra_binding import add_bound

#: how long a retraction's time is kept (35 days: past the DLQ's 30-day retention, so a like redriven from the DLQ
#: after its unlike still finds it); then the row is gone, as a deleted account's must be
RETRACTION_KEPT_S = 35 * 24 * 3600
#: rows per single-partition batch (well under the cluster's batch size limits: ~60 bytes a row)
_BATCH_ROWS = 1000
#: a group last seen with at least this many members is derived without reading its slice whole
_LARGE_GROUP = 200
#: groups whose last derived size is remembered (a hint choosing the derive path, never a source of truth)
_SIZE_HINTS = 10_000


@dataclass(frozen=True)
class StoredNotification:
    recipient: str
    id: str
    kind: str
    target_id: str
    actors: tuple[str, ...]
    actor_count: int
    updated_at: int


@dataclass
class GroupChange:
    """What one batch did to a group: the actors it added (actor -> event time), and whether it removed any."""

    adds: dict[str, int] = field(default_factory=dict)
    retracted: bool = False


def stored_of(recipient: str, item: Aggregate) -> StoredNotification:
    series = item.group.series
    return StoredNotification(recipient, item.group.id, series.kind, series.target_id, item.actors,
                              item.actor_count, item.updated_at)


class WriteCounter:
    """Counts the requests and rows a sink sends (the benchmark's "writes per 1,000 likes")."""

    def __init__(self) -> None:
        self.requests = 0
        self.rows = 0


class LatestAdd(NamedTuple):
    """Where an actor was last added to a series (the group's bucket), and that write's time (microseconds)."""

    bucket: int
    written: int


@dataclass(frozen=True)
class StoredActors:
    """What the store holds of some (series, actor) pairs: the standing adds, and the newest retraction of each
    pair retracted (epoch ms; migration 0028), whether or not it was added again since."""

    adds: dict[tuple[Series, str], LatestAdd]
    retracted: dict[tuple[Series, str], int]


class NotificationStore:
    """The processor's writes and reads, the API's paging and marks, the rebuild's walk."""

    def __init__(self, session: Session, counter: WriteCounter | None = None) -> None:
        self._session = session
        self._gated = Gated(session)
        self.counter = counter or WriteCounter()
        prepare = session.prepare
        self._w_member = prepare("INSERT INTO notification_members (recipient_id, kind, target_id, bucket, actor_id, "
                                 "at) VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?")
        self._d_member = prepare("DELETE FROM notification_members USING TIMESTAMP ? WHERE recipient_id = ? AND "
                                 "kind = ? AND target_id = ? AND bucket = ? AND actor_id = ?")
        # a comment of a COMMENT_KINDS series: a cell of its writer's row, which lives while any cell does
        # (migration 0033); its deletion also ends a row from before that (its `at`: the writer, not a comment)
        self._w_comment = prepare("UPDATE notification_members USING TIMESTAMP ? SET comments[?] = ? WHERE "
                                  "recipient_id = ? AND kind = ? AND target_id = ? AND bucket = ? AND actor_id = ?")
        self._d_comment = prepare("DELETE comments[?], at FROM notification_members USING TIMESTAMP ? WHERE "
                                  "recipient_id = ? AND kind = ? AND target_id = ? AND bucket = ? AND actor_id = ?")
        self._w_latest = prepare("INSERT INTO notification_latest (recipient_id, kind, target_id, actor_id, bucket) "
                                 "VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?")
        # a retraction keeps its time readable (migration 0028): a delete's tombstone cannot be read back. For
        # RETRACTION_KEPT_S only (past the DLQ's retention, so a redrive still finds it): the rows of a deleted
        # account's likes and follows stayed in everyone's partitions for good
        self._d_latest = prepare(f"UPDATE notification_latest USING TIMESTAMP ? AND TTL {RETRACTION_KEPT_S} SET "
                                 "bucket = null, retracted_at = ? WHERE recipient_id = ? AND kind = ? AND "
                                 "target_id = ? AND actor_id = ?")
        self._q_latest = prepare("SELECT actor_id, bucket, WRITETIME(bucket) AS written, retracted_at FROM "
                                 "notification_latest WHERE recipient_id = ? AND kind = ? AND target_id = ? AND "
                                 "actor_id IN ?")
        self._q_members = prepare("SELECT actor_id, at, comments FROM notification_members WHERE recipient_id = ? "
                                  "AND kind = ? AND target_id = ? AND bucket = ?")
        self._q_members_of = prepare("SELECT actor_id, at, comments FROM notification_members WHERE "
                                     "recipient_id = ? AND kind = ? AND target_id = ? AND bucket = ? AND actor_id IN ?")
        self._q_count = prepare("SELECT COUNT(*) AS members FROM notification_members WHERE recipient_id = ? AND "
                                "kind = ? AND target_id = ? AND bucket = ?")
        self._sizes: LRUCache[Group, int] = LRUCache(_SIZE_HINTS)
        self._w_item = prepare("INSERT INTO notifications (recipient_id, id, kind, target_id, actors, actor_count, "
                               "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
        self._d_item = prepare("DELETE FROM notifications WHERE recipient_id = ? AND id = ?")
        self._q_page = prepare("SELECT recipient_id, id, kind, target_id, actors, actor_count, updated_at "
                               "FROM notifications WHERE recipient_id = ? AND id < ? LIMIT ?")
        self._q_first = prepare("SELECT recipient_id, id, kind, target_id, actors, actor_count, updated_at "
                                "FROM notifications WHERE recipient_id = ? LIMIT ?")
        self._q_one = prepare("SELECT recipient_id, id, kind, target_id, actors, actor_count, updated_at "
                              "FROM notifications WHERE recipient_id = ? AND id = ?")
        self._q_recipients = prepare("SELECT DISTINCT recipient_id FROM notifications")
        self._w_read = prepare("INSERT INTO notification_reads (recipient_id, read_at) VALUES (?, ?) "
                               "USING TIMESTAMP ?")
        self._q_read = prepare("SELECT read_at FROM notification_reads WHERE recipient_id = ?")
        self._d_series = prepare("DELETE FROM notification_members WHERE recipient_id = ? AND kind = ? "
                                 "AND target_id = ?")
        self._d_series_latest = prepare("DELETE FROM notification_latest WHERE recipient_id = ? AND kind = ? "
                                        "AND target_id = ?")
        self._d_recipient = prepare("DELETE FROM notifications WHERE recipient_id = ?")
        self._w_target = prepare("INSERT INTO notification_targets (target_id, recipient_id, kind) VALUES (?, ?, ?)")
        self._q_targets = prepare("SELECT recipient_id, kind FROM notification_targets WHERE target_id = ?")
        self._d_targets = prepare("DELETE FROM notification_targets WHERE target_id = ?")
        self._q_buckets = prepare("SELECT bucket FROM notification_members WHERE recipient_id = ? AND kind = ? "
                                  "AND target_id = ?")
        self._d_read = prepare("DELETE FROM notification_reads WHERE recipient_id = ?")

    async def _run(self, statement: Any, params: Any = None, rows: int = 0) -> Any:
        """A request through the store's gate; ``rows`` written are counted (the benchmark's write count)."""
        if rows:
            self.counter.requests += 1
            self.counter.rows += rows
        return await self._gated.run(statement, params)

    # --- the processor ---

    async def stored_actors(self, wanted: Iterable[tuple[Series, str]]) -> StoredActors:
        """Where and when (the write time: the add's, in microseconds) each (series, actor) was last added, for
        those that are members, and when each was last retracted, for those retracted."""
        by_series: dict[Series, list[str]] = defaultdict(list)
        for series, actor in set(wanted):
            by_series[series].append(actor)
        queries = [(series, chunk) for series, actors in by_series.items() for chunk in key_chunks(actors)]
        results = await asyncio.gather(*(self._run(self._q_latest, (s.recipient, s.kind, s.target_id, chunk))
                                         for s, chunk in queries))
        found = [((series, row.actor_id), row)
                 for (series, _), rows in zip(queries, results, strict=True) for row in rows.current_rows]
        return StoredActors(
            adds={key: LatestAdd(row.bucket, int(row.written or 0)) for key, row in found if row.bucket is not None},
            retracted={key: row.retracted_at for key, row in found if row.retracted_at is not None})

    async def apply_members(self, changes: list[MemberChange], stored: dict[tuple[Series, str], int],
                            bucket_ms: int) -> dict[Group, GroupChange]:
        """Write the batch's membership changes (one single-partition batch per series and 1,000 rows);
        returns what it did to each group whose membership may have changed."""
        rows: dict[Series, list[tuple[Any, tuple[Any, ...]]]] = defaultdict(list)
        touched: dict[Group, GroupChange] = defaultdict(GroupChange)
        for change in changes:
            s, actor = change.series, change.actor
            key = (s.recipient, s.kind, s.target_id)
            if change.comment_id is not None:  # one comment, a cell of its own (no `latest`: nothing asks it)
                if change.add_at is not None:
                    bucket = bucket_of(change.add_at, bucket_ms)
                    rows[s].append((self._w_comment, (change.add_at * 1000, change.comment_id, change.add_at, *key,
                                                      bucket, actor)))
                    touched[Group(s, bucket)].adds[actor] = change.add_at
                elif change.retract_from_at is not None and change.retract_at is not None:
                    hour = bucket_of(change.retract_from_at, bucket_ms)
                    rows[s].append((self._d_comment, (change.comment_id, change.retract_at * 1000, *key, hour,
                                                      actor)))
                    touched[Group(s, hour)].retracted = True
                continue
            if change.retract_from_at is not None and change.retract_at is not None:  # from a given hour
                hour = bucket_of(change.retract_from_at, bucket_ms)
                rows[s].append((self._d_member, (change.retract_at * 1000, *key, hour, actor)))
                # (and where it was last added: a member no more, its next add is a new one, not a repeat)
                rows[s].append((self._d_latest, (change.retract_at * 1000, change.retract_at, *key, actor)))
                touched[Group(s, hour)].retracted = True
                continue
            if change.retract_at is not None:
                micros = change.retract_at * 1000
                previous = stored.get((s, actor))
                if previous is not None:
                    rows[s].append((self._d_member, (micros, *key, previous, actor)))
                    touched[Group(s, previous)].retracted = True
                rows[s].append((self._d_latest, (micros, change.retract_at, *key, actor)))
            if change.add_at is not None:
                # a retraction of the same millisecond before it (in log order: the fold keeps that order) must
                # not win the tie: Cassandra lets a tombstone win equal timestamps, and the actor's latest row
                # vanished (later unfollows withdrew nothing, repeats re-notified)
                tied = change.retract_at == change.add_at
                bucket, micros = bucket_of(change.add_at, bucket_ms), change.add_at * 1000 + (1 if tied else 0)
                rows[s].append((self._w_member, (*key, bucket, actor, change.add_at, micros)))
                rows[s].append((self._w_latest, (*key, actor, bucket, micros)))
                touched[Group(s, bucket)].adds[actor] = change.add_at
        # who holds notifications about each post (migration 0024): what a deletion of the post forgets
        indexed = {(s.target_id, s.recipient, s.kind) for s in rows if target_kind_of(s.kind) == "post"}
        writes: list[tuple[Any, int]] = [(self._w_target.bind(row), 1) for row in sorted(indexed)]
        for found in rows.values():
            for i in range(0, len(found), _BATCH_ROWS):
                chunk = found[i:i + _BATCH_ROWS]
                if len(chunk) == 1:
                    statement, params = chunk[0]
                    writes.append((statement.bind(params), 1))
                    continue
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                for statement, params in chunk:
                    add_bound(batch, statement, params)
                writes.append((batch, len(chunk)))
        await asyncio.gather(*(self._run(statement, None, count) for statement, count in writes))
        return dict(touched)

    async def members_among(self, wanted: list[tuple[Group, str]]) -> list[tuple[Group, str]]:
        """Which of these (group, actor) pairs are memberships, each read by key (a block's or a mute's look
        behind the actors a group names)."""
        found = await asyncio.gather(*(
            self._run(self._q_members_of, (g.series.recipient, g.series.kind, g.series.target_id, g.bucket, [actor]))
            for g, actor in wanted))
        return [pair for pair, rows in zip(wanted, found, strict=True) if _members_of(rows.current_rows)]

    async def forget_target(self, target_id: str) -> list[Group]:
        """Every notification about ``target_id`` (a deleted post) gone: each series' membership and latest rows,
        and its groups' aggregate rows; returns the groups, for the Redis lists. Deletes carry the server's time,
        so an older event replayed later cannot bring a member back (and a newer one finds no post)."""
        groups = await self.forget_series(await self.series_about(target_id))
        await self._run(self._d_targets, (target_id,), 1)
        return groups

    async def series_about(self, target_id: str) -> list[Series]:
        """Every series about ``target_id``, whoever it notifies (``notification_targets``)."""
        rows = await self._run(self._q_targets, (target_id,))
        return [Series(r.recipient_id, r.kind, target_id) for r in rows.current_rows]

    async def forget_series(self, series: list[Series]) -> list[Group]:
        """These series gone whole (membership, latest rows, their groups' rows); returns the groups."""
        found = await asyncio.gather(*(self._run(self._q_buckets, (s.recipient, s.kind, s.target_id)) for s in series))
        groups = sorted({Group(s, row.bucket) for s, rows_of in zip(series, found, strict=True)
                         for row in rows_of.current_rows})
        await asyncio.gather(
            *(self._run(stmt, (s.recipient, s.kind, s.target_id), 1) for s in series
              for stmt in (self._d_series, self._d_series_latest)),
            *(self._run(self._d_item, (g.series.recipient, g.id), 1) for g in groups))
        return groups

    async def derive(self, changes: dict[Group, GroupChange], shown: int) -> dict[Group, Aggregate | None]:
        """Each touched group's notification from its durable membership (None: nobody left)."""
        ordered = sorted(changes)
        results = await asyncio.gather(*(self._derive_one(g, changes[g], shown) for g in ordered))
        return dict(zip(ordered, results, strict=True))

    async def _derive_one(self, group: Group, change: GroupChange, shown: int) -> Aggregate | None:
        # (a comment group's slice is always read: a row from before migration 0033 whose `at` a deletion
        # removed is still a row, which a COUNT counts, and no member)
        large = group.series.kind not in COMMENT_KINDS and self._sizes.get(group, 0) >= _LARGE_GROUP
        if large and not change.retracted:
            derived = await self._derive_large(group, change, shown)
            if derived is not None:
                self._sizes[group] = derived.actor_count
                return derived
        members = await self._members(group)
        self._sizes[group] = len(members)
        return aggregate(group, members, shown)

    async def _derive_large(self, group: Group, change: GroupChange, shown: int) -> Aggregate | None:
        """A large group's notification without reading its slice; None when its stored row is missing.

        Exact when the batch removed no one: the count is counted by Cassandra, and the newest actors are
        among the stored row's actors and this batch's adds. Every other member was ranked below the stored
        actors before the batch, and an actor's time only moves by being added again, which puts them in the
        batch. The stored row is never behind by more than this batch: it is written after the membership, and
        a batch that crashed in between is replayed whole (offsets commit after it). The candidates are read
        back by key, so an add an older unlike shadows, or a re-added actor's newer time, is what counts.
        """
        s = group.series
        partition = (s.recipient, s.kind, s.target_id, group.bucket)
        row, counted = await asyncio.gather(self._run(self._q_one, (s.recipient, group.id)),
                                            self._run(self._q_count, partition))
        stored = row.one()
        if stored is None:
            return None
        candidates = key_chunks([*(stored.actors or ()), *change.adds])
        found = await asyncio.gather(*(self._run(self._q_members_of, (*partition, chunk)) for chunk in candidates))
        newest = aggregate(group, _members_of(r for rows in found for r in rows.current_rows), shown)
        members = int(counted.one().members)
        if newest is None or members == 0:
            return None  # nobody found where somebody should be: read the slice
        return Aggregate(group, newest.actors, members, newest.updated_at)

    async def _members(self, group: Group) -> list[tuple[str, int]]:
        s = group.series
        async with self._gated.gate:
            return _members_of([row async for page in
                                pages(self._session, self._q_members, (s.recipient, s.kind, s.target_id, group.bucket),
                                      5000) for row in page])

    async def write_aggregates(self, derived: dict[Group, Aggregate | None]) -> None:
        """The aggregate rows, absolutely (an empty group's row is deleted)."""
        await asyncio.gather(*(
            self._run(self._w_item, (g.series.recipient, g.id, g.series.kind, g.series.target_id, list(a.actors),
                                     a.actor_count, a.updated_at), 1) if a is not None
            else self._run(self._d_item, (g.series.recipient, g.id), 1)
            for g, a in derived.items()))

    # --- reads ---

    async def page(self, recipient: str, before: str | None, limit: int) -> list[StoredNotification]:
        """Newest first; ``before``: only ids strictly below it."""
        if before is None:
            rows = await self._run(self._q_first, (recipient, limit))
        else:
            rows = await self._run(self._q_page, (recipient, before, limit))
        return [_stored(row) for row in rows.current_rows]

    async def newest_rows(self, recipient: str, at_least: int) -> list[StoredNotification]:
        """The recipient's newest rows by id: ``at_least`` of them (all, if fewer), and on past the newest
        bucket, which the Redis projection never splits (``sinks.notification_lists.trimmed`` needs to see where
        it ends)."""
        limit = at_least
        while True:
            rows = await self.page(recipient, None, limit)
            if len(rows) < limit or parse_notification_id(rows[-1].id)[0] != parse_notification_id(rows[0].id)[0]:
                return rows
            limit *= 2

    async def one(self, recipient: str, notification_id: str) -> StoredNotification | None:
        row = (await self._run(self._q_one, (recipient, notification_id))).one()
        return _stored(row) if row is not None else None

    async def recipients(self) -> AsyncIterator[list[str]]:
        """Every recipient with a notification, a page at a time (the rebuild's walk)."""
        async for page in pages(self._session, self._q_recipients, (), 1000):
            yield [row.recipient_id for row in page]

    async def read_at(self, recipient: str) -> int:
        row = (await self._run(self._q_read, (recipient,))).one()
        return int(row.read_at) if row is not None and row.read_at is not None else 0

    async def mark_read(self, recipient: str, read_at: int) -> None:
        """Raise the mark to ``read_at`` (the cell timestamp is the mark: the highest one wins, no read)."""
        await self._run(self._w_read, (recipient, read_at, read_at * 1000), 1)

    async def purge(self, recipient: str) -> None:
        """Everything kept for ``recipient`` (an account deletion): their series, list and mark."""
        series = {(n.kind, n.target_id) async for n in self._all(recipient)}
        await asyncio.gather(*(self._run(stmt, (recipient, kind, target), 1) for kind, target in series
                               for stmt in (self._d_series, self._d_series_latest)))
        await asyncio.gather(self._run(self._d_recipient, (recipient,), 1), self._run(self._d_read, (recipient,), 1))

    async def _all(self, recipient: str) -> AsyncIterator[StoredNotification]:
        before: str | None = None
        while True:
            found = await self.page(recipient, before, 1000)
            for item in found:
                yield item
            if len(found) < 1000:
                return
            before = found[-1].id


def _members_of(rows: Iterable[Any]) -> list[tuple[str, int]]:
    """``(actor, time)`` of each member row: a comment group's writer at their newest standing comment, anyone
    else (and a comment row from before migration 0033) at ``at``; a row with neither is no member."""
    members = []
    for row in rows:
        at = max(row.comments.values()) if row.comments else row.at
        if at is not None:
            members.append((row.actor_id, int(at)))
    return members


def _stored(row: Any) -> StoredNotification:
    return StoredNotification(row.recipient_id, row.id, row.kind, row.target_id, tuple(row.actors or ()),
                              int(row.actor_count or 0), int(row.updated_at or 0))
