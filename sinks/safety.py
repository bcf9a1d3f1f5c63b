"""Blocks and mutes in Cassandra (sinks/migrations/0010_safety.cql): written by the safety processor, read by
every visibility check, the feed read, the fan-out and the hashtag reads.

``user_relations`` holds one row per pair and per side (A blocks B: A's row for B has ``i_block``, B's row for
A has ``blocks_me``), so each question is one IN query on one partition. Every flag is an upsert timestamped
with the event time (``USING TIMESTAMP``): Cassandra keeps the newest toggle, so writes need no read, and
duplicates and replays in any order converge (the sink is idempotent).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import astuple
from typing import Any, Literal

from cassandra.cluster import Session

from photostream.domain.safety import (
    Relation,
    SafetyChange,
    blocked_either_way,
    hidden_from_feed,
    skip_in_fan_out,
)
from sinks.accounts_privacy import AudienceReader
from sinks.cassandra import FEW_ROWS, execute, execute_grouped, key_chunks, pages, rows_if_few
from sinks.partition_cache import RELATIONS, PartitionCache

_IN_CHUNK = 500
#: asked about this many others or more, a user's relations are read as their whole partition when it is
#: small (most users block and mute a handful: :func:`sinks.cassandra.rows_if_few`), not as many IN queries
_SCAN_ABOVE = 100
#: a user's muted hashtags are read whole; more than this many are not honoured (and cannot be set by the API)
MAX_MUTED_TAGS = 1000



class SafetyWriter:
    """Applies block and mute toggles (absolute, timestamped upserts: no read)."""

    def __init__(self, session: Session) -> None:
        self._session = self.session = session
        prepare = session.prepare
        #: both rows of a pair, at the server's now: later than any toggle's event time (see :meth:`forget_pairs`)
        self._forget = prepare("DELETE FROM user_relations WHERE user_id = ? AND other_id = ?")
        self._flags = {
            flag: prepare(f"UPDATE user_relations USING TIMESTAMP ? SET {flag} = ? "
                          "WHERE user_id = ? AND other_id = ?")
            for flag in ("i_block", "blocks_me", "i_mute", "mutes_me")
        }
        self._tag = prepare("UPDATE muted_tags USING TIMESTAMP ? SET muted = ? WHERE user_id = ? AND tag = ?")
        #: an unmute deletes the row (timestamped as a mute's write, so the later of the two still wins): rows
        #: of unmuted tags took places in the read's LIMIT, and 1,000 of them hid every mute made after them
        self._untag = prepare("DELETE FROM muted_tags USING TIMESTAMP ? WHERE user_id = ? AND tag = ?")

    def _writes(self, change: SafetyChange) -> list[tuple[Any, tuple[Any, ...]]]:
        micros = change.occurred_at * 1000
        if change.target_kind == "hashtag":
            if change.on:
                return [(self._tag, (micros, True, change.actor_id, change.target_id))]
            return [(self._untag, (micros, change.actor_id, change.target_id))]
        mine, theirs = ("i_block", "blocks_me") if change.kind == "block" else ("i_mute", "mutes_me")
        return [(self._flags[mine], (micros, change.on, change.actor_id, change.target_id)),
                (self._flags[theirs], (micros, change.on, change.target_id, change.actor_id))]

    async def apply(self, changes: Iterable[SafetyChange]) -> None:
        """Timestamped upserts, order-free: grouped into a few UNLOGGED batches, not a request per row."""
        await execute_grouped(self._session, [write for c in changes for write in self._writes(c)])

    async def forget_pairs(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Both rows of each (user, other) pair, whatever their toggles' times: one side's account is deleted,
        and a closed account makes no toggle any more (its tokens are refused), so nothing written later can
        be lost; a toggle of the pair replayed later is timestamped earlier, and stays deleted."""
        await execute_grouped(self._session, [(self._forget, row) for user, other in pairs
                                              for row in ((user, other), (other, user))])


class SafetyReader:
    """Reads of blocks and mutes (prepared once per process). With ``relation_copies`` (the API's readers), a
    user's relations are answered from the Redis copy of their ``user_relations`` partition
    (:mod:`sinks.partition_cache`; the safety processor and the account purge drop it after each write)."""

    def __init__(self, session: Session, relation_copies: PartitionCache | None = None) -> None:
        self._session = self.session = session
        self._copies = relation_copies
        self._q_relations = session.prepare(
            "SELECT other_id, i_block, blocks_me, i_mute, mutes_me FROM user_relations "
            "WHERE user_id = ? AND other_id IN ?")
        self._q_all_relations = session.prepare(
            "SELECT other_id, i_block, blocks_me, i_mute, mutes_me FROM user_relations WHERE user_id = ? LIMIT ?")
        self._q_many_relations = session.prepare(
            "SELECT user_id, other_id, i_block, blocks_me, i_mute, mutes_me FROM user_relations "
            "WHERE user_id IN ? PER PARTITION LIMIT ?")
        self._q_tags = session.prepare("SELECT tag, muted FROM muted_tags WHERE user_id = ?")
        # (the indexes on the flags: migration 0034)
        self._q_listed = {kind: session.prepare(
            f"SELECT other_id, writetime({flag}) AS at FROM user_relations WHERE user_id = ? AND {flag} = true "
            "AND other_id > ? LIMIT ?") for kind, flag in (("block", "i_block"), ("mute", "i_mute"))}

    async def relations(self, user_id: str, others: Iterable[str]) -> dict[str, Relation]:
        """How ``user_id`` relates to each of ``others`` that it has any relation with: from the Redis copy when
        there is one; for many others, the user's whole partition when it is small (one read: a like storm on
        a post asks about thousands of likers), otherwise one IN query per chunk of 500, concurrently."""
        wanted = {o for o in others if o != user_id}
        if not wanted:
            return {}
        if self._copies is not None:
            copied = await self._relations_copied(user_id, wanted)
            if copied is not None:
                return copied
        if len(wanted) >= _SCAN_ABOVE:
            rows = await rows_if_few(self._session, self._q_all_relations, (user_id,))
            if rows is not None:
                return {row.other_id: _relation(row) for row in rows if row.other_id in wanted}
        results = await asyncio.gather(*(execute(self._session, self._q_relations, (user_id, chunk))
                                         for chunk in key_chunks(wanted, _IN_CHUNK)))
        return {row.other_id: _relation(row) for rows in results for row in rows.current_rows}

    async def _relations_copied(self, user_id: str, wanted: set[str]) -> dict[str, Relation] | None:
        """The answer from the user's Redis copy (None when it cannot answer)."""
        async def whole() -> dict[str, str] | None:
            rows = await rows_if_few(self._session, self._q_all_relations, (user_id,))
            return None if rows is None else {row.other_id: _encoded(_relation(row)) for row in rows}

        assert self._copies is not None
        found = await self._copies.rows_of(user_id, wanted, whole)
        return None if found is None else {other: _decoded(flags) for other, flags in found.items()}

    async def listed(self, user_id: str, kind: Literal["block", "mute"], limit: int, after: str | None
                     ) -> list[tuple[str, int]]:
        """The accounts ``user_id`` blocks (or mutes), in id order after ``after``: (id, since when, epoch ms:
        the standing toggle's time). One read of the user's own partition, through the flag's index."""
        rows = await execute(self._session, self._q_listed[kind], (user_id, after or "", limit))
        return [(row.other_id, row.at // 1000) for row in rows.current_rows]

    async def blocked_among(self, user_id: str, others: Iterable[str]) -> set[str]:
        """Which of ``others`` ``user_id`` blocked or is blocked by."""
        return {o for o, r in (await self.relations(user_id, others)).items() if blocked_either_way(r)}

    async def blocked_pairs(self, pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of ``pairs`` (user, other) stand in a block, either way, as Cassandra holds it now (a processor
        deciding whether to apply a follow, a like or a comment must see the safety processor's last write, not
        a Redis copy of the relations)."""
        asked: dict[str, set[str]] = {}
        for user, other in pairs:
            asked.setdefault(user, set()).add(other)
        if not asked:
            return set()
        found = await self.relations_of_many(asked)
        return {(user, other) for user, relations in found.items() for other, relation in relations.items()
                if blocked_either_way(relation)}

    async def muted_among(self, user_id: str, others: Iterable[str]) -> set[str]:
        """Which of ``others`` ``user_id`` muted."""
        return {o for o, r in (await self.relations(user_id, others)).items() if r.i_mute}

    async def relations_of_many(self, asked: dict[str, set[str]], most: int = FEW_ROWS
                                ) -> dict[str, dict[str, Relation]]:
        """:meth:`relations` for many users at once (user → the others asked about): the users' partitions
        read whole in one IN query per chunk (most users relate to nobody or to a handful); a user whose
        partition holds more than ``most`` rows is asked on its own."""
        found: dict[str, dict[str, Relation]] = {user: {} for user in asked}
        counted: dict[str, int] = dict.fromkeys(asked, 0)
        for chunk in key_chunks(asked):
            async for page in pages(self._session, self._q_many_relations, (chunk, most + 1), 5_000):
                for row in page:
                    counted[row.user_id] += 1
                    if row.other_id in asked[row.user_id]:
                        found[row.user_id][row.other_id] = _relation(row)
        crowded = [user for user, count in counted.items() if count > most]
        for user, relations in zip(crowded, await asyncio.gather(*(self.relations(u, asked[u]) for u in crowded)),
                                   strict=True):
            found[user] = relations
        return found

    async def skipped_followers_of_many(self, followers: dict[str, list[str]]) -> dict[str, set[str]]:
        """:meth:`skipped_followers` for many authors at once (author → followers)."""
        relations = await self.relations_of_many({a: set(fs) for a, fs in followers.items()})
        return {a: {o for o, r in found.items() if skip_in_fan_out(r)} for a, found in relations.items()}

    async def skipped_followers(self, author_id: str, followers: Iterable[str]) -> set[str]:
        """Which of ``followers`` a post of ``author_id`` skips at fan-out (blocked either way, or muted it)."""
        return {o for o, r in (await self.relations(author_id, followers)).items() if skip_in_fan_out(r)}

    async def hidden_authors_of_many(self, authors: dict[str, list[str]]) -> dict[str, set[str]]:
        """:meth:`hidden_authors` for many users at once (user → authors)."""
        relations = await self.relations_of_many({u: set(a) for u, a in authors.items()})
        return {u: {o for o, r in found.items() if hidden_from_feed(r)} for u, found in relations.items()}

    async def hidden_authors(self, user_id: str, authors: Iterable[str]) -> set[str]:
        """Which of ``authors`` never appear in ``user_id``'s feed (blocked either way, or muted)."""
        return {o for o, r in (await self.relations(user_id, authors)).items() if hidden_from_feed(r)}

    async def muted_tags(self, user_id: str) -> set[str]:
        """The user's muted tags (at most the cap): paged past rows of unmuted tags (``muted = false``, as
        unmutes were written before they deleted), which count toward nothing."""
        muted: set[str] = set()
        async for rows in pages(self._session, self._q_tags, (user_id,), MAX_MUTED_TAGS):
            muted.update(row.tag for row in rows if row.muted)
            if len(muted) >= MAX_MUTED_TAGS:
                return set(sorted(muted)[:MAX_MUTED_TAGS])
        return muted


def _relation(row: Any) -> Relation:
    return Relation(bool(row.i_block), bool(row.blocks_me), bool(row.i_mute), bool(row.mutes_me))


def _encoded(relation: Relation) -> str:
    """A relation as its copy's value: one "0"/"1" per flag, in field order."""
    return "".join("1" if flag else "0" for flag in astuple(relation))


def _decoded(flags: str) -> Relation:
    return Relation(*(flag == "1" for flag in flags))


class SafeAudience(AudienceReader):
    """What a visibility check reads (:class:`api.visibility.Audience`): the follow graph, which accounts are
    private, and (this class) blocks between the viewer and the authors."""

    def __init__(self, session: Session, redis: Any, reads: Any = None) -> None:
        super().__init__(session, redis, reads)
        self.safety = SafetyReader(session, PartitionCache(redis, RELATIONS, reads))

    async def blocked_among(self, user_id: str, others: Iterable[str]) -> set[str]:
        return await self.safety.blocked_among(user_id, others)
