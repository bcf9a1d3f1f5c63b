"""execute_partitions: each partition's writes stay whole in one batch; small partitions share one."""

from __future__ import annotations

from typing import Any

from cassandra.query import BatchStatement

from sinks.cassandra import execute_partitions


def partition(tag: str, rows: int) -> list[tuple[Any, Any]]:
    return [("INSERT INTO t (tag, key) VALUES (%s, %s)", (tag, str(i))) for i in range(rows)]


async def test_partitions_are_never_split_and_small_ones_share_a_batch() -> None:
    sent: list[BatchStatement] = []

    async def run(batch: BatchStatement) -> None:
        sent.append(batch)

    sizes = [3, 60, 1, 1, 48, 2]
    await execute_partitions(run, [partition(f"t{i}", n) for i, n in enumerate(sizes)], group_size=50)
    # 3 | 60 alone (larger than a group) | 1 + 1 + 48 (exactly full) | 2
    assert [len(batch) for batch in sent] == [3, 60, 50, 2]


async def test_nothing_to_write_sends_nothing() -> None:
    sent: list[BatchStatement] = []

    async def run(batch: BatchStatement) -> None:
        sent.append(batch)

    await execute_partitions(run, [])
    assert sent == []
