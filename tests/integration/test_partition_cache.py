"""The fenced partition copies on the real Redis: a fill that raced a write is refused, a write drops the copy,
a partition too large to copy sends reads to Cassandra, and Redis down is a miss (see sinks.partition_cache)."""

from __future__ import annotations

from photostream.settings import Settings
from producers.ids import new_id
from sinks import keys
from sinks.partition_cache import PartitionCache
from sinks.redis_client import async_client

NAME = "test-partition"


async def test_a_copy_answers_only_the_asked_rows_until_a_write_drops_it(settings: Settings) -> None:
    redis = async_client(settings)
    copies, user = PartitionCache(redis, NAME), new_id()
    try:
        seen = await copies.lookup(user, ["a", "b"])
        assert seen.rows is None and seen.version == ""  # never copied: a miss the reader may fill
        assert await copies.fill(user, seen.version, {"a": "1", "c": "1"})
        assert (await copies.lookup(user, ["a", "b"])).rows == {"a": "1"}
        assert (await copies.lookup(user, ["x"])).rows == {}  # whole copy: absent means no such row
        await copies.invalidate([user])
        seen = await copies.lookup(user, ["a"])
        assert seen.rows is None and seen.version == "1"
        assert await redis.ttl(keys.partition_version(NAME, user)) > 0
    finally:
        await redis.delete(keys.partition_copy(NAME, user), keys.partition_version(NAME, user))
        await redis.aclose()


async def test_a_fill_that_raced_a_write_is_refused(settings: Settings) -> None:
    """Reader sees version v, reads Cassandra (old state); the writer writes and invalidates; the reader's fill
    must not store the old state."""
    redis = async_client(settings)
    copies, user = PartitionCache(redis, NAME), new_id()
    try:
        seen = await copies.lookup(user, ["a"])
        await copies.invalidate([user])  # a write lands while the reader is reading Cassandra
        assert not await copies.fill(user, seen.version or "", {"a": "1"})
        assert not await redis.exists(keys.partition_copy(NAME, user))
        again = await copies.lookup(user, ["a"])
        assert again.rows is None and again.version == "1"
        assert await copies.fill(user, again.version, {})  # the next read's fill, with the new version, stands
        assert (await copies.lookup(user, ["a"])).rows == {}
        assert await redis.ttl(keys.partition_copy(NAME, user)) > 0
    finally:
        await redis.delete(keys.partition_copy(NAME, user), keys.partition_version(NAME, user))
        await redis.aclose()


async def test_a_write_edits_a_whole_copy_in_place_and_fences_fills(settings: Settings) -> None:
    """``apply``: a like then the next page keeps the copy (edited, not dropped); a fill that raced it is refused."""
    redis = async_client(settings)
    copies, user, cold = PartitionCache(redis, NAME), new_id(), new_id()
    try:
        seen = await copies.lookup(user, ["a"])
        assert await copies.fill(user, seen.version or "", {"a": "1", "b": "1"})
        racing = await copies.lookup(cold, ["a"])  # another user's copy is being filled meanwhile
        await copies.apply({user: {"b": None, "c": "1"}, cold: {"a": "1"}})
        assert (await copies.lookup(user, ["a", "b", "c"])).rows == {"a": "1", "c": "1"}
        assert not await copies.fill(cold, racing.version or "", {})  # read before the write: refused
        assert not await redis.exists(keys.partition_copy(NAME, cold))  # no copy is created by a write
    finally:
        await redis.delete(*(keys.partition_copy(NAME, u) for u in (user, cold)),
                           *(keys.partition_version(NAME, u) for u in (user, cold)))
        await redis.aclose()


async def test_a_partition_too_large_is_marked_and_never_answers(settings: Settings) -> None:
    redis = async_client(settings)
    copies, user = PartitionCache(redis, NAME), new_id()
    try:
        seen = await copies.lookup(user, ["a"])
        assert await copies.fill(user, seen.version or "", None)
        marked = await copies.lookup(user, ["a"])
        assert marked.rows is None and marked.version is None  # ask Cassandra, do not refill
    finally:
        await redis.delete(keys.partition_copy(NAME, user), keys.partition_version(NAME, user))
        await redis.aclose()


async def test_redis_down_is_a_miss_without_a_fill(settings: Settings) -> None:
    down = async_client(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    try:
        seen = await PartitionCache(down, NAME).lookup(new_id(), ["a"])
        assert seen.rows is None and seen.version is None
        assert not await PartitionCache(down, NAME).fill(new_id(), "", {"a": "1"})
    finally:
        await down.aclose()


async def test_one_call_invalidates_many_users(settings: Settings) -> None:
    redis = async_client(settings)
    copies, users = PartitionCache(redis, NAME), [new_id() for _ in range(3)]
    try:
        for user in users:
            assert await copies.fill(user, "", {"a": "1"})
        await copies.invalidate(users[:2])
        assert [(await copies.lookup(u, ["a"])).rows for u in users] == [None, None, {"a": "1"}]
        assert [await redis.get(keys.partition_version(NAME, u)) for u in users] == ["1", "1", None]
    finally:
        await redis.delete(*(keys.partition_copy(NAME, u) for u in users),
                           *(keys.partition_version(NAME, u) for u in users))
        await redis.aclose()
