"""Which partitions a consumer owns, as its rebalance callbacks report them, and which ones moved.

The callbacks run inside ``Consumer.consume()`` (on the loop's consumer thread). An eager rebalance revokes
and re-assigns inside one ``consume()`` call, and that call's messages may come from before the revocation
(stale: the old owner's position, records already pending here) or after the assignment (fresh: re-read
from the last commit). They cannot be told apart, so every partition revoked during a call is treated as
moved wholesale: its pending and returned records are dropped and, if it is still ours, the consumer is
rewound to its committed offset (:meth:`Ownership.rewind`) — nothing is lost and nothing applied twice at once.

A partition assigned that was not ours when the call began (a worker's first assignment, or a partition taken
over from another worker) has no such mix: the consumer held no position for it, so each of its records was
fetched after the assignment, from the committed offset, which is exactly where a rewind would go back to.
Its records are kept. Dropping them too made every start and every takeover fetch its first records twice,
and ask for the committed offsets again. (Records of an earlier ownership
still queued inside librdkafka are discarded by librdkafka itself: an unassign bumps the partition's fetch
version, and outdated messages are never returned.)
"""

from __future__ import annotations

import logging

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

log = logging.getLogger(__name__)

TP = tuple[str, int]


def tp_of(message: Message) -> TP:
    return str(message.topic()), int(message.partition() or 0)


class Ownership:
    """Rebalance callbacks for one consumer, plus the set of partitions that moved since last asked."""

    def __init__(self) -> None:
        self.assigned: set[TP] = set()
        #: True once the consumer has joined its group (received an assignment, possibly empty)
        self.joined = False
        self._moved: set[TP] = set()
        self._stale: set[TP] = set()

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = {(str(p.topic), int(p.partition)) for p in partitions}
        self._stale |= tps & self.assigned  # (assigned again while ours: records of both ownerships may mix)
        self.assigned |= tps
        self._moved |= tps
        self.joined = True

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Also the ``on_lost`` callback: partitions lost to a session timeout are no longer ours either."""
        tps = {(str(p.topic), int(p.partition)) for p in partitions}
        self.assigned -= tps
        self._moved |= tps
        self._stale |= tps

    def take_moved(self) -> tuple[set[TP], set[TP]]:
        """Partitions revoked or assigned since the last call, and those of them whose records must be dropped
        (revoked, or assigned while still ours); call it after every ``consume()``."""
        moved, stale, self._moved, self._stale = self._moved, self._stale, set(), set()
        return moved, stale

    def rewind(self, consumer: Consumer, partitions: set[TP]) -> None:
        """Seek ``partitions`` (still ours) back to their committed offsets, so records dropped after a
        rebalance are read again. No commit yet: from the start, as ``auto.offset.reset=earliest`` would."""
        owned = sorted(partitions & self.assigned)
        if not owned:
            return
        committed = consumer.committed([TopicPartition(t, p) for t, p in owned], timeout=10)
        for tp in committed:
            offset = tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
            consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
        log.info("rewound %d partition(s) to their committed offsets after a rebalance", len(owned))
