"""The feed list scripts on the real Redis: order, duplicates, the cap and its sentinel, and which lists an
insert may create — the invariants every feed and pull set relies on."""

from __future__ import annotations

import time
import uuid
from typing import Any

import redis.asyncio as aioredis

from photostream.settings import Settings
from producers.ids import new_id
from sinks.feed_lists import SENTINEL, FeedLists, newest_first, unpack
from sinks.redis_client import async_client

CAP = 5


def ids_in_time_order(count: int) -> list[str]:
    """``count`` UUIDv7-shaped ids, oldest first, one millisecond apart (their bytes sort as their times)."""
    base = int(time.time() * 1000)
    return [str(uuid.UUID(int=((base + i) << 80) | (0x7 << 76) | (i + 1))) for i in range(count)]


def raw_client(settings: Settings) -> Any:
    """A client answering bytes: the lists hold binary ids."""
    return aioredis.Redis.from_url(settings.redis_url)


async def _list(redis: Any, key: str) -> tuple[list[str], bytes]:
    raw = await redis.lrange(key, 0, -1)
    return unpack(raw), raw[-1]


async def test_inserts_keep_newest_first_refuse_duplicates_and_respect_the_cap(settings: Settings) -> None:
    redis, raw = async_client(settings), raw_client(settings)
    lists, key = FeedLists(redis), f"test:feed-lists:{new_id()}"
    ids = ids_in_time_order(8)
    try:
        assert await lists.add(keys=[key], args=[CAP, "existing", *newest_first(ids[:2])]) == 0  # not built
        assert not await redis.exists(key)
        assert await lists.add(keys=[key], args=[CAP, "create", *newest_first([ids[1], ids[3]])]) == 1
        await lists.add(keys=[key], args=[CAP, "existing", *newest_first([ids[0], ids[2]])])  # older: spliced
        await lists.add(keys=[key], args=[CAP, "existing", *newest_first([ids[3], ids[2]])])  # duplicates
        assert await _list(raw, key) == ([ids[3], ids[2], ids[1], ids[0]], SENTINEL)
        for post in ids[4:]:  # newer ones at the head; past the cap the oldest go, the sentinel stays last
            await lists.add(keys=[key], args=[CAP, "existing", *newest_first([post])])
        assert await _list(raw, key) == (list(reversed(ids[3:])), SENTINEL)
        assert await raw.llen(key) == CAP + 1
    finally:
        await redis.delete(key)
        await redis.aclose()
        await raw.aclose()


async def test_one_call_edits_many_lists_and_counts_the_built_ones(settings: Settings) -> None:
    redis, raw = async_client(settings), raw_client(settings)
    lists = FeedLists(redis)
    built, missing = [f"test:feed-lists:{new_id()}" for _ in range(3)], f"test:feed-lists:{new_id()}"
    old, new = ids_in_time_order(2)
    try:
        for key in built:
            await lists.add(keys=[key], args=[CAP, "create", *newest_first([old])])
        assert await lists.add(keys=[*built, missing], args=[CAP, "existing", *newest_first([new])]) == 3
        for key in built:
            assert await _list(raw, key) == ([new, old], SENTINEL)
        assert not await redis.exists(missing)
    finally:
        await redis.delete(*built, missing)
        await redis.aclose()
        await raw.aclose()
