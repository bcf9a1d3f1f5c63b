"""Applied-offset marks: how far each consumer has applied each topic-partition.

Written by sinks after their data (so a mark never runs ahead of what it promises), read by the API to
honour ``?after=TOKEN``. Marks only move forward: a replay that re-applies old offsets leaves them alone.

A processor that publishes events derived from its input (a block's unfollows and unlikes, an account purge's
retractions) also records, with the marks, where those events landed, per batch of its input
(:func:`advance_all`'s ``derived``), so a read after the cause can wait for its consequences
(:func:`derived_from`): a blocker reading their follower count right after the block's token saw the
blocked person still counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from sinks import keys

#: batches remembered per input partition, and for how long: a read-your-writes token is used at once
DERIVED_BATCHES_KEPT = 1000
DERIVED_KEPT_S = 24 * 3600

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


async def advance_all(redis: Any, consumer: str, coordinates: Iterable[tuple[str, int, int]],
                      derived: Mapping[tuple[str, int], int] | None = None) -> None:
    """:func:`advance` for the highest offset of each topic-partition among ``(topic, partition, offset)``s,
    in one pipelined round trip (batch processors call it after their data is durable). ``derived``: the
    highest offset of each (topic, partition) the batch's derived events were written to (acknowledged), kept
    for each input partition's span of offsets in this batch, before the marks move."""
    highest: dict[tuple[str, int], int] = {}
    lowest: dict[tuple[str, int], int] = {}
    for topic, partition, offset in coordinates:  # (one pass per record of every batch: no max/min calls)
        tp = (topic, partition)
        high = highest.get(tp)
        if high is None:
            highest[tp] = lowest[tp] = offset
        elif offset > high:
            highest[tp] = offset
        elif offset < lowest[tp]:
            lowest[tp] = offset
    if not highest:
        return
    places = ",".join(f"{topic}:{partition}:{offset}" for (topic, partition), offset in sorted((derived or {}).items()))
    async with redis.pipeline(transaction=False) as pipe:
        if places:
            for (topic, partition), offset in highest.items():
                key = keys.derived_offsets(consumer, topic, partition)
                pipe.zadd(key, {f"{lowest[(topic, partition)]}|{places}": offset})
                pipe.zremrangebyrank(key, 0, -DERIVED_BATCHES_KEPT - 1)
                pipe.expire(key, DERIVED_KEPT_S)
        for (topic, partition), offset in highest.items():
            pipe.eval(_ADVANCE, 1, keys.applied_offsets(consumer, topic), str(partition), str(offset))
        await pipe.execute()


async def derived_from(redis: Any, consumer: str, topic: str, partition: int,
                       offset: int) -> list[tuple[str, int, int]]:
    """Where the events ``consumer`` derived from the record at ``offset`` landed, as (topic, partition, highest
    offset): those of the batch that held the record (a superset of the record's own), or none."""
    found = await redis.zrangebyscore(keys.derived_offsets(consumer, topic, partition), offset, "+inf",
                                      start=0, num=1)
    if not found:
        return []
    entry = found[0].decode() if isinstance(found[0], bytes) else str(found[0])
    low, _, places = entry.partition("|")
    if int(low) > offset:  # the first batch at or after it began later: the record's own derived nothing
        return []
    return [(t, int(p), int(o)) for place in places.split(",") for t, p, o in [place.rsplit(":", 2)]]


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
