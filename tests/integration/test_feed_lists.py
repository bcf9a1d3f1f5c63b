"""The feed list scripts on the real Redis: order, duplicates, the cap and its sentinel, and which lists an
insert may create — the invariants every feed and pull set relies on."""

from __future__ import annotations

import time
import uuid
from typing import Any

import redis.asyncio as aioredis

from photostream.settings import Settings
from producers.ids import new_id
from sinks.feed_lists import SENTINEL, FeedLists, add_args, newest_first, trim_at, unpack
from sinks.redis_client import async_client

CAP = 8


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
    ids = ids_in_time_order(CAP + 4)
    try:
        assert await lists.add(keys=[key], args=add_args(CAP, "existing", newest_first(ids[:2]))) == 0  # unbuilt
        assert not await redis.exists(key)
        assert await lists.add(keys=[key], args=add_args(CAP, "create", newest_first([ids[1], ids[3]]))) == 1
        await lists.add(keys=[key], args=add_args(CAP, "existing", newest_first([ids[0], ids[2]])))  # spliced
        await lists.add(keys=[key], args=add_args(CAP, "existing", newest_first([ids[3], ids[2]])))  # duplicates
        assert await _list(raw, key) == ([ids[3], ids[2], ids[1], ids[0]], SENTINEL)
        for post in ids[4:-1]:  # newer ones at the head; past the cap and its slack, cut back to the cap
            await lists.add(keys=[key], args=add_args(CAP, "existing", newest_first([post])))
        assert await _list(raw, key) == (list(reversed(ids[2:-1])), SENTINEL)
        assert await raw.llen(key) == trim_at(CAP) + 1  # the slack is full: not cut yet
        await lists.add(keys=[key], args=add_args(CAP, "existing", newest_first([ids[-1]])))
        assert await _list(raw, key) == (list(reversed(ids[-CAP:])), SENTINEL)  # cut back to the cap
    finally:
        await redis.delete(key)
        await redis.aclose()
        await raw.aclose()


async def test_a_list_at_its_cap_refuses_ids_below_its_last_one(settings: Settings) -> None:
    """Below the last id of a list that was cut lie posts it no longer holds: an older id inserted there
    would leave a gap that readers, trusting the list down to its last entry, would skip."""
    redis, raw = async_client(settings), raw_client(settings)
    lists, key = FeedLists(redis), f"test:feed-lists:{new_id()}"
    ids = ids_in_time_order(CAP + 3)
    try:
        held = [i for i in ids[2:] if i != ids[5]]  # CAP ids: the list is at its cap
        await lists.add(keys=[key], args=add_args(CAP, "create", newest_first(held)))
        await lists.add(keys=[key], args=add_args(CAP, "existing", newest_first([ids[0]])))  # below: refused
        assert await _list(raw, key) == (list(reversed(held)), SENTINEL)
        await lists.add(keys=[key], args=add_args(CAP, "existing", newest_first([ids[5], ids[1]])))
        # ids[5] sits between held ids: spliced; ids[1] is still below the last one: refused
        assert await _list(raw, key) == (list(reversed(ids[2:])), SENTINEL)
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
            await lists.add(keys=[key], args=add_args(CAP, "create", newest_first([old])))
        assert await lists.add(keys=[*built, missing], args=add_args(CAP, "existing", newest_first([new]))) == 3
        for key in built:
            assert await _list(raw, key) == ([new, old], SENTINEL)
        assert not await redis.exists(missing)
    finally:
        await redis.delete(*built, missing)
        await redis.aclose()
        await raw.aclose()
