"""The engine's partitioner check agrees with Kafka's murmur2 partitioner."""

import random
from types import SimpleNamespace
from typing import Any

from aiokafka.partitioner import murmur2 as reference_murmur2

from producers.partitioning import partition_counts, partition_of


def test_partitions_match_an_independent_murmur2_for_every_tail_length_and_partition_count():
    """librdkafka's hash (what the SDK's producer places keys with) against aiokafka's pure-Python one."""
    rng = random.Random(7)
    for _ in range(5_000):
        data = rng.randbytes(rng.randint(0, 64))
        partitions = rng.choice((1, 3, 4, 6, 7, 12, 64))
        assert partition_of(data, partitions) == (reference_murmur2(data) & 0x7FFFFFFF) % partitions, data


def test_partition_counts_are_asked_topic_by_topic_and_a_missing_topic_is_left_out() -> None:
    """One ``list_topics()`` brought the whole cluster's metadata (a batch loop asks after every rebalance)."""
    asked: list[str | None] = []

    def answer(topic: str | None = None, timeout: float = -1) -> Any:
        asked.append(topic)
        found = {"likes": SimpleNamespace(error=None, partitions={0: 0, 1: 1, 2: 2}),
                 "gone": SimpleNamespace(error="UNKNOWN_TOPIC_OR_PART", partitions={})}
        return SimpleNamespace(topics={topic: found[topic]} if topic in found else {})

    client = SimpleNamespace(list_topics=answer)
    assert partition_counts(client, ["likes", "gone", "never"], 10) == {"likes": 3}
    assert asked == ["likes", "gone", "never"]
