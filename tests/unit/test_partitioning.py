"""The engine's partitioner check agrees with Kafka's murmur2 partitioner."""

import random

from aiokafka.partitioner import murmur2 as reference_murmur2

from producers.partitioning import KeyPlacement, murmur2, partition_of


def test_murmur2_matches_an_independent_implementation_for_every_tail_length():
    rng = random.Random(7)
    for _ in range(5_000):
        data = rng.randbytes(rng.randint(0, 64))
        assert murmur2(data) == reference_murmur2(data) & 0xFFFFFFFF, data


def test_the_remembering_placement_gives_the_same_partitions_and_stays_bounded():
    placement = KeyPlacement(remembered=10)
    keys = [f"key-{i}".encode() for i in range(50)]
    for _ in range(2):
        assert [placement.partition_of(k, 8) for k in keys] == [partition_of(k, 8) for k in keys]
    assert len(placement._hashes) <= 10
