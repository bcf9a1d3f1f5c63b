"""Whether a record sits where the SDK would have put it: keyed by its topic's key field, on the partition
Kafka's murmur2 partitioner gives that key (:mod:`producers.partitioning`).

Processors own entities by partition; a record placed otherwise (another producer's CRC32 partitioner, a key
naming something else) belongs to another worker's entities, and two workers read-modify-writing one post's
counts lost likes (586 of 600 counted). Every loop refuses such a
record the same way, with the reason (→ the topic's DLQ), so no view applies what another dead-letters (a
misplaced post was on its author's grid and in no feed).

Partition counts come from the broker: learnt at start and after every rebalance, and once more (at most every
few seconds) before a record is refused for its partition, so a topic given more partitions is not taken for
a misplaced producer (its new records were refused until the next rebalance, minutes later).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaException

from photostream.contracts.catalog import topic as catalog_topic
from producers.partitioning import partition_of
from producers.validation import EventValidationError

log = logging.getLogger(__name__)
#: the least time between two asks of the broker prompted by a misplaced record (a storm of them asks once)
RELEARN_AFTER_S = 5.0


class Placement:
    def __init__(self, topics: Mapping[str, str], partition_counts: Callable[[list[str]], dict[str, int]]) -> None:
        """``topics``: broker topic → catalog topic of the inputs; ``partition_counts``: asks the broker."""
        self._key_fields = {physical: catalog_topic(logical).key_field for physical, logical in topics.items()}
        self._ask = partition_counts
        self._counts: dict[str, int] = {}
        self._learned_at = float("-inf")

    def learn(self) -> None:
        """Ask the broker for the inputs' partition counts (blocking: a metadata round trip). Unanswered, the
        counts known stay (none yet: records are not checked for their partition until one is learnt)."""
        self._learned_at = time.monotonic()
        try:
            self._counts.update(self._ask(list(self._key_fields)))
        except KafkaException as exc:
            log.warning("partition counts unknown for now: %s", exc)

    def check(self, physical: str, partition: int, key: bytes | None, value: dict[str, Any]) -> None:
        """``EventValidationError`` naming the key field if the record is keyed or placed otherwise."""
        field = self._key_fields[physical]
        if key is None or key != str(value.get(field)).encode():
            raise EventValidationError(field, f"the record's key is not its {field}, so another worker may own "
                                              f"this {field}: publish with the key the catalog names")
        partitions = self._counts.get(physical)
        if partitions is None or partition_of(key, partitions) == partition:  # (every record but a misplaced one)
            return
        if time.monotonic() - self._learned_at > RELEARN_AFTER_S:
            self.learn()  # (the topic may have been given partitions since)
        if self._misplaced(physical, partition, key):
            partitions = self._counts[physical]
            raise EventValidationError(field, f"the record is on partition {partition}, but its key belongs on "
                                              f"partition {partition_of(key, partitions)} of "
                                              f"{partitions} (Kafka's murmur2 partitioner), where another worker "
                                              f"owns it: its producer partitions otherwise than the SDK "
                                              f"(partitioner=murmur2_random)")

    def _misplaced(self, physical: str, partition: int, key: bytes) -> bool:
        partitions = self._counts.get(physical)
        return partitions is not None and partition_of(key, partitions) != partition
