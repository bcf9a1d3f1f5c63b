"""Applied-offset marks: how far each consumer has applied each topic-partition.

Written by sinks after their data (so a mark never runs ahead of what it promises), read by the API to
honour ``?after=TOKEN``. Marks only move forward: a replay that re-applies old offsets leaves them alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from sinks import keys

# Set field to max(current, new) atomically.
_ADVANCE = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
return 1
"""


async def advance(redis: Any, consumer: str, topic: str, partition: int, offset: int) -> None:
    """Record that ``offset`` of ``topic``/``partition`` has been applied by ``consumer``."""
    await redis.eval(_ADVANCE, 1, keys.applied_offsets(consumer, topic), str(partition), str(offset))


async def applied(redis: Any, consumer: str, topic: str, partition: int) -> int:
    """The highest applied offset, or -1."""
    value = await redis.hget(keys.applied_offsets(consumer, topic), str(partition))
    return int(value) if value is not None else -1


async def advance_all(redis: Any, consumer: str, coordinates: Iterable[tuple[str, int, int]]) -> None:
    """:func:`advance` for the highest offset of each topic-partition among ``(topic, partition, offset)``s,
    in one pipelined round trip (batch processors call it after their data is durable)."""
    highest: dict[tuple[str, int], int] = {}
    for topic, partition, offset in coordinates:
        highest[(topic, partition)] = max(highest.get((topic, partition), -1), offset)
    if not highest:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for (topic, partition), offset in highest.items():
            pipe.eval(_ADVANCE, 1, keys.applied_offsets(consumer, topic), str(partition), str(offset))
        await pipe.execute()


async def wait_applied(redis: Any, consumer: str, topic: str, wanted: dict[int, int], timeout_s: float) -> bool:
    """Wait until ``consumer`` has applied ``wanted`` (partition -> offset) of ``topic``; False past the bound.
    For a processor that reads another's view of the same records (polled: the mark is a Redis hash field)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        marks = await redis.hmget(keys.applied_offsets(consumer, topic), [str(p) for p in wanted])
        if None not in marks and all(int(mark) >= offset for mark, offset in zip(marks, wanted.values(), strict=True)):
            return True
        if asyncio.get_running_loop().time() >= deadline:
            return False
        await asyncio.sleep(0.05)
