"""The ``unread`` processor: ON_MSG_UNSENT + MESSAGES_READ → per-(user, sender) marks → the badge sets.

Both topics are keyed by the badge owner with equal partition counts and consumed with the engine's
co-partitioning (range) assignor, so one loop owns all of a user's events and its read-merge-write of the
user's pairs is never raced. Per batch, in this order:

1. every record becomes a mark (:mod:`photostream.domain.unread`); bad ones are rejected (→ DLQ): ids that are
   not ids, a message id that is not a UUIDv7, a message to oneself or a read mark about oneself. A read mark
   for a sender who never wrote is not bad: it is kept, so the unsent message it covers, if it arrives later,
   does not count (no badge changes meanwhile);
2. the touched pairs are loaded (remembered from earlier batches for the users this loop owns, else one IN
   query per chunk of users: :class:`sinks.unread.OwnedPairs`), the marks folded in, and the pairs that
   changed written (each user's pairs whole in one batch) — durable before the offsets move;
3. Redis gets every touched pair's absolute outcome (so a retried batch or a replay repairs it), with a
   pub/sub ping per user whose set changed, for the API's WebSocket push: while step 2's write is under way,
   and again once it is durable (:meth:`UnreadProcessor._write_and_project` says why both);
4. the applied-offset marks move (reads with ``?after=`` wait on them).

``block-changed`` (keyed by the blocker, co-partitioned too) is read here as well: a block marks the blocked
person's messages read on the blocker's badge and keeps their later ones out of it until an unblock
(:func:`blocker_mark`). ``account-deleted`` (keyed by the user,
co-partitioned too) is read here as well: the deleted user's pairs and
set are deleted by this processor, their only writer, so no loop can remember pairs another writer removed.
The batch's marks for that user's badge are dropped with them. So are later ones, for the badge of an account
whose deletion was accepted or from it (its ``auth:closed`` marker, kept past the purge): a message delivered
after the purge made a deleted account's badge again, or put a deleted sender back into a badge for good. And
a message whose sender's deletion was accepted while the batch was written is erased once the write is durable
(:meth:`UnreadProcessor._erase_senders_closed_meanwhile`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra.cluster import Session

from photostream.domain.safety import safety_change
from photostream.domain.unread import Mark, Pair, PairMarks, apply_all, block_mark, read_mark, unsent_mark
from producers.ids import is_id, last_id_at
from sinks import offsets
from sinks.revocations import closed_among
from sinks.unread import OwnedPairs, UnreadPairs, UnreadSets
from streams.engine.ownership import TP
from streams.engine.poison import POISON_ERRORS
from streams.engine.records import Record, Reject, accepted

TOPICS = ("ON_MSG_UNSENT", "MESSAGES_READ", "account-deleted", "block-changed")
#: the topics whose every record is a mark
_MARKED = frozenset({"ON_MSG_UNSENT", "MESSAGES_READ"})
#: users whose pairs a loop remembers (a few hundred bytes per pair: ~10–40 MB at this bound)
REMEMBERED_USERS = 20_000


def deleted_user(record: Record) -> str:
    """The account an ``account-deleted`` record deletes; ``ValueError`` (→ DLQ) for one that is not an id."""
    user = record.value.get("user_id")
    if not isinstance(user, str) or not is_id(user):
        raise ValueError("account-deleted: user_id is not an id")
    return user


def mark_of(record: Record) -> Mark:
    """The mark a record sets; ``ValueError`` (→ DLQ) for one that breaks a rule.

    A record not keyed by its badge owner is one too: it sits on another loop's partition, whose memory of the
    pairs is not this loop's, and the two overwrote each other's writes (a read mark keyed by the sender was
    lost from durable state, and a covered message counted again)."""
    event = record.value
    owner_field = "dest" if record.topic == "ON_MSG_UNSENT" else "user_id"
    owner = event[owner_field]
    if record.key is None or record.key != str(owner).encode():
        raise ValueError(f"{record.topic}: the record's key is not the badge owner ({owner_field}), "
                         f"so another loop owns that badge")
    if record.topic == "ON_MSG_UNSENT":
        return unsent_mark(event["src"], event["dest"], event["msg_id"], int(event["occurred_at"]))
    return read_mark(event["user_id"], event["sender_id"], event["read_up_to_msg_id"], int(event["occurred_at"]))


def blocker_mark(record: Record) -> Mark:
    """A block's or unblock's mark on the blocker's own badge (keyed by the blocker, co-partitioned): the
    blocked person's messages read up to its millisecond, and while the block stands their later messages left
    out (:attr:`photostream.domain.unread.PairMarks.blocked`). ``ValueError`` (→ DLQ) for a block no client
    could have sent. Why here as well as from the safety processor's derived marks: a status read with the
    block's token (``?after=``) waits for this processor to apply the block itself, and showed the blocked
    sender while the derived mark was still on its way."""
    change = safety_change("block", record.value)
    return block_mark(change.actor_id, change.target_id, change.on, last_id_at(change.occurred_at),
                      change.occurred_at)


class UnreadProcessor:
    name: str = "unread"
    topics: tuple[str, ...] = TOPICS
    #: the badge is live (the goal: applied in Redis within 100 ms at p99): no accumulation. A batch is what
    #: arrived while the last one was applied, so batches grow with the load by themselves; a 20 ms interval
    #: on top of that was most of the latency (1,000 events/s: applied p50 25 → 12 ms; README "Live processors
    #: do not accumulate")
    flush_interval_s: float = 0.0

    def __init__(self, pairs: UnreadPairs, sets: UnreadSets, redis: Any, session: Session,
                 remembered_users: int = REMEMBERED_USERS) -> None:
        self._pairs = OwnedPairs(pairs, remembered_users)
        self._sets = sets
        self._redis = redis
        self._session = session

    def partitions_moved(self, moved: set[TP]) -> None:
        """Another worker may write the moved partitions' users now (or did, before they came back)."""
        self._pairs.forget()

    async def process(self, batch: list[Record], reject: Reject) -> None:
        deleted = set(accepted([r for r in batch if r.topic == "account-deleted"], deleted_user, reject))
        marks = [m for m in accepted([r for r in batch if r.topic in _MARKED], mark_of, reject)
                 if m.user_id not in deleted]
        marks += [m for m in accepted([r for r in batch if r.topic == "block-changed"], blocker_mark, reject)
                  if m.user_id not in deleted]
        erased: set[Pair] = set()
        if marks:  # nothing counts for or from an account whose deletion was accepted (one Redis round trip)
            closed = await closed_among(self._redis, self._session,
                                        {m.user_id for m in marks} | {m.sender_id for m in marks})
            # the purge's read mark for each person a deleted account wrote to: the pair goes (it kept whom they
            # wrote and when, for good, though the deletion promised the index of what they sent)
            erased = {m.pair for m in marks if m.read and m.block is None and m.sender_id in closed
                      and m.user_id not in closed}
            marks = [m for m in marks if m.user_id not in closed and m.sender_id not in closed]
        if erased:
            await self._pairs.delete_pairs(erased)
            await self._sets.project({pair: PairMarks() for pair in erased})
        if marks:
            before = await self._pairs.load({m.pair for m in marks})
            after = apply_all(before, marks)
            await self._write_and_project({p: s for p, s in after.items() if before.get(p) != s}, after, before)
            await self._erase_senders_closed_meanwhile(marks)
        if deleted:
            await self._pairs.delete_users(deleted)
            await self._sets.clear(deleted)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))

    async def _erase_senders_closed_meanwhile(self, marks: list[Mark]) -> None:
        """The pairs just written of a sender whose deletion was accepted since the check above, erased. The
        purge marks the account first and then reads the pairs it wrote (the index on ``unread_pairs.sender_id``)
        to read them away; a message in flight as the account was deleted, written after that reading, put the
        deleted sender into a badge for good. Asked once the write is durable, so either this question or the
        purge's reading finds it. One Redis round trip per batch with unsent messages."""
        senders = {m.sender_id for m in marks if not m.read}
        closed = await closed_among(self._redis, self._session, senders) if senders else set()
        late = {m.pair for m in marks if not m.read and m.sender_id in closed}
        if late:
            await self._pairs.delete_pairs(late)
            await self._sets.project({pair: PairMarks() for pair in late})

    async def _write_and_project(self, changed: dict[Pair, PairMarks], after: dict[Pair, PairMarks],
                                 before: dict[Pair, PairMarks]) -> None:
        """The changed pairs made durable while Redis gets every touched pair's outcome, then Redis once more.

        Why at once: the badge is live, and projecting only after Cassandra acknowledged put the whole write on
        every event's path to the badge. Safe to project first because the projection is the outcome itself,
        not a delta: if the write fails, the batch is retried (or re-read by the partition's next owner) and
        gives the same outcome: what Redis shows early is what becomes durable.
        Why once more: a copy of a user's set from Cassandra (the API's, when the set is not known whole yet; a
        rebuild's repair) that read the version after the first projection and the pairs before the write
        lands would be accepted by the version fence and drop the new sender; the second projection, after the
        write, puts it back (and pings only if it did).
        One exception to "the same outcome": a row the driver refuses to bind (a record-shaped error, so the
        loop takes the batch apart and dead-letters the culprit). Binding comes before any request, so nothing
        was written: Redis is put back to ``before`` first, or it would keep the dead-lettered record's effect."""
        projection = self._sets.projection(after)
        # (the projection first: it is sent at its first step, before the write binds its statements, ~25 µs a
        # row of the event loop's time)
        shown, written = await asyncio.gather(self._sets.write(projection), self._pairs.write(changed),
                                              return_exceptions=True)
        if isinstance(written, POISON_ERRORS) and not isinstance(shown, BaseException):
            await self._sets.project({pair: before.get(pair, PairMarks()) for pair in after})
        for outcome in (shown, written):  # (both awaited: no write of this batch still runs when it is retried)
            if isinstance(outcome, BaseException):
                raise outcome
        await self._sets.write(projection)
