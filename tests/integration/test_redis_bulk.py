"""The one-command bulk reads on the real Redis answer exactly what per-key HGETALL/HMGET/EXISTS answer,
missing hashes and fields included, and survive a flushed script cache."""

from __future__ import annotations

from photostream.settings import Settings
from producers.ids import new_id
from sinks.redis_bulk import MGET_CHUNK, exist_many, hgetall_many, hmget_many
from sinks.redis_client import async_client


async def test_bulk_reads_equal_per_key_reads(settings: Settings) -> None:
    redis = async_client(settings)
    full, sparse, missing = (f"test:bulk:{new_id()}" for _ in range(3))
    try:
        await redis.hset(full, mapping={"a": "1", "b": "2"})
        await redis.hset(sparse, mapping={"b": "3"})
        wanted = [full, missing, sparse]
        assert await hgetall_many(redis, wanted) == [await redis.hgetall(k) for k in wanted]
        assert await hmget_many(redis, wanted, ("a", "b")) == [await redis.hmget(k, "a", "b") for k in wanted]
        await redis.script_flush()  # Redis forgot the scripts: the read loads them and still answers
        assert await hmget_many(redis, [sparse], ("b",)) == [["3"]]
        assert await hgetall_many(redis, []) == []
    finally:
        await redis.delete(full, sparse, missing)
        await redis.aclose()


async def test_existence_over_several_mget_chunks_equals_exists_per_key(settings: Settings) -> None:
    """Across chunk boundaries (present keys first, last and in the middle of a chunk), in order."""
    redis = async_client(settings)
    wanted = [f"test:bulk:{new_id()}" for _ in range(2 * MGET_CHUNK + 3)]
    present = [wanted[0], wanted[MGET_CHUNK - 1], wanted[MGET_CHUNK], wanted[MGET_CHUNK + 500], wanted[-1]]
    try:
        await redis.mset(dict.fromkeys(present, "1"))
        found = await exist_many(redis, wanted)
        assert found == [bool(await redis.exists(key)) for key in wanted]
        assert sum(found) == len(present)
        assert await exist_many(redis, []) == []
    finally:
        await redis.delete(*present)
        await redis.aclose()
