"""Which partition a key belongs on: Kafka's default (murmur2) partitioner, as the SDK's producer applies it.

Processors own entities by partition (every event of one post, one followee, one badge owner on one loop).
That holds only if every producer partitions a key alike, so the engine checks each record against this
and dead-letters one that sits elsewhere (another producer with librdkafka's default CRC32 partitioner,
say): two workers read-modify-writing one post's counts lost updates. The same hash as Java's
``Utils.murmur2`` and librdkafka's ``murmur2_random`` for keyed records (``tests/unit/test_partitioning.py``
compares it with another implementation; every integration test reads records the broker's producer placed).
"""

from __future__ import annotations

import struct
from typing import Any

_M, _MASK, _SEED = 0x5BD1E995, 0xFFFFFFFF, 0x9747B28C


def murmur2(data: bytes) -> int:
    """MurmurHash2 (32 bits, Kafka's seed) of ``data``: ~2 µs for an id, 2× a byte-at-a-time loop."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    words = length >> 2
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    tail = length & 3
    if tail:
        rest = data[words * 4:]
        if tail == 3:
            h ^= rest[2] << 16
        if tail >= 2:
            h ^= rest[1] << 8
        h = ((h ^ rest[0]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` among ``partitions``."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class KeyPlacement:
    """Remembers each key's hash (a batch repeats its posts, tags and users); bounded, cleared when full."""

    def __init__(self, remembered: int = 100_000) -> None:
        self._hashes: dict[bytes, int] = {}
        self._remembered = remembered

    def partition_of(self, key: bytes, partitions: int) -> int:
        hashed = self._hashes.get(key)
        if hashed is None:
            if len(self._hashes) >= self._remembered:
                self._hashes.clear()
            hashed = self._hashes[key] = murmur2(key) & 0x7FFFFFFF
        return hashed % partitions


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
