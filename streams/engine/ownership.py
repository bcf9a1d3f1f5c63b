"""Which partitions a consumer owns, as its rebalance callbacks report them, and which ones moved.

The callbacks run inside ``Consumer.consume()`` (on the loop's consumer thread). An eager rebalance revokes
and re-assigns inside one ``consume()`` call, and that call's messages may come from before the revocation
(stale: the old owner's position, records already pending here) or after the assignment (fresh: re-read
from the last commit). They cannot be told apart, so every partition that moved during a call is treated as
moved wholesale: its pending and returned records are dropped and, if it is still ours, the consumer is
rewound to its committed offset (:meth:`Ownership.rewind`) — nothing is lost and nothing applied twice at once.
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

    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = {(str(p.topic), int(p.partition)) for p in partitions}
        self.assigned |= tps
        self._moved |= tps
        self.joined = True

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Also the ``on_lost`` callback: partitions lost to a session timeout are no longer ours either."""
        tps = {(str(p.topic), int(p.partition)) for p in partitions}
        self.assigned -= tps
        self._moved |= tps

    def take_moved(self) -> set[TP]:
        """Partitions revoked or assigned since the last call (call it after every ``consume()``)."""
        moved, self._moved = self._moved, set()
        return moved

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
