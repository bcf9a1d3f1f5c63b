"""sinks.built_sets on the real Redis: a rebuild marks its set built only if the set kept the rebuild's fence,
so a set Redis lost while it was rebuilt (restarted, the key deleted) is never marked complete without the
members that went with it."""

from __future__ import annotations

import pytest

from photostream.settings import Settings
from producers.ids import new_id
from sinks import built_sets, keys
from sinks.feeds import FeedCache
from sinks.redis_client import async_client

MARK = "\x00built"


async def test_a_set_lost_during_its_rebuild_is_not_marked_built(settings: Settings) -> None:
    redis, key = async_client(settings), f"test:built-sets:{new_id()}"
    try:
        fence = await built_sets.begin(redis, key)
        await redis.sadd(key, "a", "b")  # the rebuild's adds so far
        await redis.delete(key)  # lost, and those adds with it
        await redis.sadd(key, "c")  # a writer after the loss
        with pytest.raises(built_sets.SetLostError):
            await built_sets.finish(redis, key, fence, MARK)
        assert await redis.smembers(key) == {"c"}

        fence = await built_sets.begin(redis, key)  # the next rebuild, undisturbed
        await redis.sadd(key, "a", "b")
        await built_sets.finish(redis, key, fence, MARK)
        assert await redis.smembers(key) == {"a", "b", "c", MARK}
    finally:
        await redis.delete(key)
        await redis.aclose()


async def test_the_celebrity_set_is_marked_only_through_its_fence_which_it_does_not_keep(settings: Settings) -> None:
    redis = async_client(settings)
    cache, author, key = FeedCache(redis, cap=10, ttl_s=60), new_id(), keys.feed_celebrities()
    try:
        fence = await cache.fence_celebrities()
        await cache.mark_celebrities_built([author], fence)
        members = await redis.smembers(key)
        assert author in members and fence not in members
        assert author in (await cache.celebrities() or [])  # built, and the fence is no author

        lost = await cache.fence_celebrities()
        await redis.srem(key, lost)  # what a loss of the set does to the fence
        with pytest.raises(built_sets.SetLostError):
            await cache.mark_celebrities_built([author], lost)
    finally:
        await redis.srem(key, author)
        await redis.aclose()
