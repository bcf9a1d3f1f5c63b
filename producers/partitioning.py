"""Which partition a key belongs on: Kafka's default (murmur2) partitioner, as the SDK's producer applies it.

Processors own entities by partition (every event of one post, one followee, one badge owner on one loop).
That holds only if every producer partitions a key alike, so the engine checks each record against this
and dead-letters one that sits elsewhere (another producer with librdkafka's default CRC32 partitioner,
say): two workers read-modify-writing one post's counts lost updates.

The hash is librdkafka's own, the one the SDK's producer places keys with (``partitioner=murmur2_random``, the
same as Java's ``Utils.murmur2`` for keyed records), as confluent-kafka exposes it: ~0.07 µs a key where the
pure-Python hash this module used to carry cost ~2.2 µs, once per record in every processor
(``tests/unit/test_partitioning.py`` compares it with aiokafka's independent implementation).
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import murmur2 as _librdkafka_murmur2


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` among ``partitions``."""
    return _librdkafka_murmur2(key, partitions)


def counts_in(metadata: Any, topics: list[str]) -> dict[str, int]:
    """The partition count of each of ``topics`` a client's ``list_topics()`` answer has."""
    return {name: len(found.partitions) for name in topics
            if (found := metadata.topics.get(name)) is not None and found.error is None and found.partitions}


def partition_counts(client: Any, topics: list[str], timeout_s: float) -> dict[str, int]:
    """The partition count of each of ``topics`` (broker names) the cluster has, asked topic by topic.

    A batch loop asks after each rebalance, holding its first batch meanwhile, so this must be quick. Two things
    made it slow (0.46 s a loop in benchmark 14, a third of the storm's time):
    - one ``list_topics()`` brings every topic of the cluster (724 on the test broker; 1.4 ms for one topic);
    - asked of the loop's consumer, the request queues behind the consumer's fetches on the same broker
      connections, each waiting up to ``fetch.wait.max.ms`` (0.5 s) for data: 1.5 s for three topics.
    So the loops ask the publisher's producer (``Publisher.partition_counts``), whose connections carry no
    long polls."""
    counts: dict[str, int] = {}
    for name in topics:
        counts.update(counts_in(client.list_topics(name, timeout=timeout_s), [name]))
    return counts
