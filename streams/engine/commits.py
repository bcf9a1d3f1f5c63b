"""Offset commits paced: at most one every :data:`COMMIT_EVERY_S`, each carrying the latest offset of every
partition applied since the last one.

Why: a live processor applies whatever arrived while its previous batch ran (no accumulation interval), so at
5,000 events/s it finished ~400 batches a second, and committed after each. Every commit is an OffsetCommit
request on the consumer's one connection to its group coordinator, which the broker answers one at a time
(~10 ms each here, a write to ``__consumer_offsets``), and the group's heartbeats wait in the same line:
commits queued faster than they were answered (answer p90 350 ms, max 0.9 s with librdkafka's debug log on),
until a heartbeat waited out the 6 s session. The group then dropped the member, and the badge stopped for
~11 s while it rejoined (benchmark 7's applied p99: 12.2 s at 5,000/s in one run of three).

Nothing is lost by pacing: readers wait on the applied marks the processors write, not on commits, and the
records after the last commit that landed are re-applied idempotently by whoever owns the partition next. Every
method but :meth:`PacedCommits.due_in` (a read, by the event loop) runs on the loop's consumer thread, where the
rebalance callbacks run too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from confluent_kafka import Message, TopicPartition

from streams.engine.ownership import TP

log = logging.getLogger(__name__)

#: the shortest time between two commits of one consumer: ≤ 20 requests/s on its coordinator connection,
#: against the ~10 ms the broker takes to answer each
COMMIT_EVERY_S = 0.05


class PacedCommits:
    """The offsets a loop has applied and not yet committed, sent when due (see the module docstring)."""

    def __init__(self, send: Callable[[list[TopicPartition]], None], every_s: float = COMMIT_EVERY_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``send``: an asynchronous commit of the offsets given (the consumer's)."""
        self._send_offsets = send
        self._every_s = every_s
        self._clock = clock
        self._waiting: dict[TP, int] = {}
        self._next_at = 0.0

    def add(self, messages: Iterable[Message]) -> None:
        """``messages`` are applied: commit past them now if a commit is due, else with the next one."""
        # a partition's records are in offset order (consumed so, carried over in order), so its last is its
        # highest; were one ever out of order, a lower commit only re-applies records, never skips one
        # (a comprehension, not a max() per record: this ran for every record of every batch, 0.7 → 0.1 µs)
        self._waiting.update({(str(m.topic()), m.partition() or 0): (m.offset() or 0) + 1 for m in messages})
        self.send_due()

    def due_in(self) -> float | None:
        """Seconds until the waiting offsets are due (0 when overdue); None when nothing waits. The loop polls
        no longer than this, so the last batch of a burst is committed within :data:`COMMIT_EVERY_S`."""
        if not self._waiting:
            return None
        return max(0.0, self._next_at - self._clock())

    def send_due(self) -> None:
        """Commit what waits if the last commit was at least :data:`COMMIT_EVERY_S` ago."""
        now = self._clock()
        if self._waiting and now >= self._next_at:
            self._next_at = now + self._every_s
            self._send()

    def forget(self, moved: set[TP]) -> None:
        """Partitions revoked or re-assigned: their waiting offsets are not this owner's to commit any more (the
        broker would refuse them from an ended generation; their records are re-applied, idempotently)."""
        for tp in moved & self._waiting.keys():
            del self._waiting[tp]

    def flush(self) -> None:
        """Send whatever waits, due or not (before the consumer closes, which waits for commits in flight)."""
        if self._waiting:
            self._send()

    def _send(self) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in self._waiting.items()]
        self._waiting = {}
        try:
            self._send_offsets(offsets)
        except Exception as exc:  # e.g. no longer in a group: the records are re-applied idempotently
            log.warning("commit failed (records will be re-applied idempotently): %s", exc)
