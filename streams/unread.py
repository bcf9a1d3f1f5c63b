"""The ``unread`` processor: ON_MSG_UNSENT + MESSAGES_READ → per-(user, sender) marks → the badge sets.

Both topics are keyed by the badge owner with equal partition counts and consumed with the engine's
co-partitioning (range) assignor, so one loop owns all of a user's events and its read-merge-write of the
user's pairs is never raced. Per batch, in this order:

1. every record becomes a mark (:mod:`photostream.domain.unread`); bad ones are rejected (→ DLQ): ids that are
   not ids, a message id that is not a UUIDv7, a message to oneself or a read mark about oneself. A read mark
   for a sender who never wrote is not bad: it is kept, so the unsent message it covers, if it arrives later,
   does not count (no badge changes meanwhile);
2. the touched users' pairs are taken from the loop's own memory, or loaded (one IN query per chunk of users)
   for users it does not hold; the marks folded in, and the pairs that changed written (one single-partition
   batch per user) — durable before anything else. The memory holds whole partitions of users whose
   partition this loop owns, as its own durable writes left them (the processor is their only writer), and
   is dropped whenever partitions move, so it never outlives ownership;
3. Redis gets every touched pair's absolute outcome (so a retried batch or a replay repairs it), with a
   pub/sub ping per user whose set changed, for the API's WebSocket push;
4. the applied-offset marks move (reads with ``?after=`` wait on them).
"""

from __future__ import annotations

from typing import Any

from cachetools import LRUCache

from photostream.domain.unread import Mark, Pair, PairMarks, apply_all, read_mark, unsent_mark
from sinks import offsets
from sinks.unread import UnreadPairs, UnreadSets
from streams.engine.records import Record, Reject, accepted

TOPICS = ("ON_MSG_UNSENT", "MESSAGES_READ")
#: users whose whole partition a loop keeps in memory (a few senders each)
KNOWN_USERS = 100_000


def mark_of(record: Record) -> Mark:
    """The mark a record sets; ``ValueError`` (→ DLQ) for one that breaks a rule."""
    event = record.value
    if record.topic == "ON_MSG_UNSENT":
        return unsent_mark(event["src"], event["dest"], event["msg_id"])
    return read_mark(event["user_id"], event["sender_id"], event["read_up_to_msg_id"])


class UnreadProcessor:
    name: str = "unread"
    topics: tuple[str, ...] = TOPICS
    #: the badge is live (the goal: applied in Redis within 100 ms at p99): short batches
    flush_interval_s: float = 0.02

    def __init__(self, pairs: UnreadPairs, sets: UnreadSets, redis: Any) -> None:
        self._pairs = pairs
        self._sets = sets
        self._redis = redis
        #: user -> sender -> marks, as durable state holds them (see the module docstring, step 2)
        self._known: LRUCache[str, dict[str, PairMarks]] = LRUCache(KNOWN_USERS)

    def partitions_moved(self) -> None:
        """The loop's rebalance hook: what it held may now be written by another owner."""
        self._known.clear()

    async def _partitions_of(self, users: set[str]) -> dict[str, dict[str, PairMarks]]:
        """Copies of the users' partitions (memory first, the rest from Cassandra)."""
        found = {user: dict(self._known[user]) for user in users if user in self._known}
        if len(found) < len(users):
            found |= await self._pairs.load_users(users - found.keys())
        return found

    async def process(self, batch: list[Record], reject: Reject) -> None:
        marks = accepted(batch, mark_of, reject)
        if marks:
            partitions = await self._partitions_of({m.pair[0] for m in marks})
            before: dict[Pair, PairMarks] = {(u, s): m for u, found in partitions.items() for s, m in found.items()}
            after = apply_all(before, marks)
            await self._pairs.write({p: s for p, s in after.items() if before.get(p) != s})
            for (user, sender), state in after.items():  # durable now: what memory may hold
                partitions[user][sender] = state
            self._known.update(partitions)
            await self._sets.project(after)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))
