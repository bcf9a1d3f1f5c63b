"""Where a processor's derived events landed, kept per batch of its input on the real Redis: a record finds the
places of the batch that held it, and nothing when its batch derived nothing."""

from __future__ import annotations

from photostream.settings import Settings
from producers.ids import new_id
from sinks import keys, offsets
from sinks.redis_client import async_client


async def test_a_record_finds_the_derived_places_of_its_own_batch_only(settings: Settings) -> None:
    redis = async_client(settings)
    consumer = f"test-derived-{new_id()}"
    try:
        # batch 1: offsets 10–12 of partition 0 derived two places; batch 2 (13–15) derived nothing; batch 3
        # (16–20, and partition 1's 4) derived one place
        await offsets.advance_all(redis, consumer, [("block-changed", 0, o) for o in (10, 11, 12)],
                                  {("follow-changed", 3): 41, ("like-changed", 0): 7})
        await offsets.advance_all(redis, consumer, [("block-changed", 0, o) for o in (13, 14, 15)], {})
        await offsets.advance_all(redis, consumer, [("block-changed", 0, 16), ("block-changed", 0, 20),
                                                    ("block-changed", 1, 4)], {("follow-changed", 3): 44})

        async def found(partition: int, offset: int) -> list[tuple[str, int, int]]:
            return await offsets.derived_from(redis, consumer, "block-changed", partition, offset)

        first = [("follow-changed", 3, 41), ("like-changed", 0, 7)]
        assert [await found(0, o) for o in (10, 12)] == [first, first]
        assert [await found(0, o) for o in (13, 15)] == [[], []]
        assert await found(0, 18) == [("follow-changed", 3, 44)] and await found(1, 4) == [("follow-changed", 3, 44)]
        assert await found(0, 21) == [] and await found(1, 3) == []
        assert await offsets.applied(redis, consumer, "block-changed", 0) == 20  # the marks moved too
    finally:
        await redis.delete(keys.applied_offsets(consumer, "block-changed"),
                           *(keys.derived_offsets(consumer, "block-changed", p) for p in (0, 1)))
        await redis.aclose()
