"""RedisMux on the real Redis: the replies redis-py would give, in order across concurrent batches; redis-py's
exceptions for error replies; a lost connection fails its waiting batches and the next batch reconnects; a
silent server times out; a refused set-up is an error, not a half-open connection. And beside it, the plain
client's pooled connections outlive a Redis restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from photostream.settings import Settings
from producers.ids import new_id
from sinks.redis_batching import BatchingRedis, reads_client
from sinks.redis_bulk import hgetall_many
from sinks.redis_client import async_client
from sinks.redis_mux import RedisMux
from tests.integration.conftest import free_port
from tests.integration.fault_stack import RedisServer


@asynccontextmanager
async def clients(settings: Settings) -> AsyncIterator[tuple[Any, RedisMux]]:
    """The plain client and a mux to the same Redis, both closed afterwards."""
    redis = async_client(settings)
    mux = RedisMux.like(redis)
    try:
        yield redis, mux
    finally:
        mux.close()
        await redis.aclose()


async def test_replies_match_redis_py_and_batches_keep_their_order(settings: Settings) -> None:
    string, hashed, members = (f"test:mux:{new_id()}" for _ in range(3))
    async with clients(settings) as (redis, mux):
        await redis.set(string, "s é")
        await redis.hset(hashed, mapping={"a": "1", "b": "2"})
        await redis.sadd(members, "x", "y")
        commands = [("GET", string), ("MGET", string, members + "-none"), ("HMGET", hashed, "a", "z"),
                    ("SMISMEMBER", members, "x", "q"), ("EXISTS", string), ("SCARD", members),
                    ("EVAL", "return {KEYS[1], tonumber(ARGV[1]) + 1}", 1, string, 41)]
        expected = [await redis.execute_command(*command) for command in commands]
        batches = [commands, list(reversed(commands)), commands[:1]] * 20
        answers = await asyncio.gather(*(mux.send(batch) for batch in batches))  # all in flight at once
        for batch, answer in zip(batches, answers, strict=True):
            assert answer == [expected[commands.index(command)] for command in batch]
        assert answers[0][0] == "s é"  # decoded as the API's clients decode (utf-8 strings)
        assert answers[0][-1] == [string, 42]
        await redis.delete(string, hashed, members)


async def test_error_replies_are_redis_py_exceptions_in_their_place(settings: Settings) -> None:
    key = f"test:mux:{new_id()}"
    async with clients(settings) as (redis, mux):
        await redis.set(key, "s")
        replies = await mux.send([("HGETALL", key), ("EVALSHA", "0" * 40, 0), ("GET", key)])
        assert isinstance(replies[0], ResponseError) and "WRONGTYPE" in str(replies[0])
        assert isinstance(replies[1], NoScriptError)
        assert replies[2] == "s"  # the batch's other commands are answered as usual
        await redis.delete(key)


async def test_a_killed_connection_fails_its_batch_and_the_next_one_reconnects(settings: Settings) -> None:
    name = f"test-mux-{new_id()}"
    async with clients(settings) as (redis, mux):
        assert await mux.send([("CLIENT", "SETNAME", name)]) == ["OK"]
        blocked = asyncio.ensure_future(mux.send([("BLPOP", f"test:mux:{new_id()}", 30)]))
        while not any(c.get("name") == name and c.get("cmd") == "blpop" for c in await redis.client_list()):
            await asyncio.sleep(0.01)  # polling until Redis reports the connection blocked in BLPOP
        await redis.client_kill_filter(_id=next(c["id"] for c in await redis.client_list() if c.get("name") == name))
        with pytest.raises(RedisConnectionError):
            await blocked
        assert await mux.send([("PING",)]) == ["PONG"]  # a new connection


async def test_redis_down_is_a_connection_error(settings: Settings) -> None:
    mux = RedisMux("127.0.0.1", 1)
    with pytest.raises(RedisConnectionError, match="cannot connect"):
        await mux.send([("PING",)])


async def test_a_silent_server_times_out_and_the_connection_is_dropped() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def never_answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    mux = RedisMux("127.0.0.1", port, timeout_s=0.2)
    try:
        with pytest.raises(RedisTimeoutError):
            await mux.send([("PING",)])
        with pytest.raises(RedisTimeoutError):  # a fresh connection, not the stale one's replies
            await mux.send([("PING",)])
        assert len(accepted) == 2
    finally:
        mux.close()
        server.close()
        await server.wait_closed()


async def test_a_refused_set_up_raises_and_keeps_no_connection(settings: Settings) -> None:
    async with clients(settings) as (_, mux):
        refused = RedisMux(mux._address[0], mux._address[1], db=100_000)  # no such database
        with pytest.raises(ResponseError, match="DB index"):
            await refused.send([("PING",)])
        assert refused._protocol is None


async def test_the_api_batching_client_answers_through_it_as_through_redis_py(settings: Settings) -> None:
    redis = async_client(settings)
    through_mux = reads_client(redis)
    plain = BatchingRedis(redis)
    assert isinstance(through_mux, BatchingRedis) and through_mux._mux is not None
    hashed, members = f"test:mux:{new_id()}", f"test:mux:{new_id()}"
    try:
        await redis.hset(hashed, mapping={"a": "1", "b": "2"})
        await redis.sadd(members, "x")

        async def read(client: Any) -> list[Any]:
            async with client.pipeline(transaction=False) as pipe:
                pipe.hgetall(hashed)
                pipe.smembers(members)
                pipe.hmget(hashed, "b")
                return list(await asyncio.gather(pipe.execute(), client.hgetall(hashed + "-none"),
                                                 hgetall_many(client, [hashed])))

        assert await read(through_mux) == await read(plain) == [
            [{"a": "1", "b": "2"}, {"x"}, ["2"]], {}, [{"a": "1", "b": "2"}]]
    finally:
        through_mux.close()
        await redis.delete(hashed, members)
        await redis.aclose()


async def test_pooled_connections_survive_a_redis_restart(tmp_path: Path) -> None:
    """The plain client beside the mux: a connection pooled before Redis restarted is replaced on its next
    use, not an error (the fault test's restart found one failing a feed read as a 503)."""
    server = RedisServer(free_port(), tmp_path / "data", tmp_path / "redis.log")
    redis = async_client(Settings(redis_url=server.url))
    mux = RedisMux.like(redis)
    try:
        await redis.set("k", "v")
        assert await mux.send([("GET", "k")]) == ["v"]
        server.kill_and_wipe()
        server.start()
        assert await redis.get("k") is None  # a new, empty Redis: the stale connection was replaced
        async with redis.pipeline(transaction=False) as pipe:
            pipe.set("k", "w")
            pipe.get("k")
            assert await pipe.execute() == [True, "w"]
        assert await mux.send([("GET", "k")]) == ["w"]  # the mux saw its connection close and reconnected
    finally:
        mux.close()
        await redis.aclose()
        server.stop()
