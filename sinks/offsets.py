"""Applied-offset marks: how far each consumer has applied each topic-partition.

Written by sinks after their data (so a mark never runs ahead of what it promises), read by the API to
honour ``?after=TOKEN``. Marks only move forward: a replay that re-applies old offsets leaves them alone.
"""

from __future__ import annotations

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
