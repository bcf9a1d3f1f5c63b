"""BatchingRedis on the real Redis: concurrent readers' commands share one pipeline, each gets exactly the
answer (or the error) the plain client would give it, and Redis down fails every caller alike."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from photostream.settings import Settings
from producers.ids import new_id
from sinks import keys
from sinks.feed_lists import PAGE, PAGES
from sinks.feeds import FeedCache, PullAuthors
from sinks.notification_lists import NotificationLists
from sinks.partition_cache import FOLLOWING, MEMBERS_IN_SET, MEMBERS_IN_SET_SHA, PartitionCache
from sinks.redis_batching import BatchingRedis
from sinks.redis_bulk import HGETALL_MANY, hgetall_many
from sinks.redis_client import async_client


class CountingPipelines:
    """The plain client, counting the pipelines sent through it."""

    def __init__(self, redis: Any) -> None:
        self.redis, self.pipelines = redis, 0

    def pipeline(self, transaction: bool = True) -> Any:
        self.pipelines += 1
        return self.redis.pipeline(transaction=transaction)


async def test_concurrent_reads_share_one_pipeline_and_get_their_own_answers(settings: Settings) -> None:
    redis = async_client(settings)
    counting = CountingPipelines(redis)
    batching = BatchingRedis(counting)
    string, hashed, members = (f"test:batching:{new_id()}" for _ in range(3))
    try:
        await redis.set(string, "s")
        await redis.hset(hashed, mapping={"a": "1", "b": "2"})
        await redis.sadd(members, "x")
        await redis.script_load(HGETALL_MANY)  # else the bulk read's first EVALSHA misses and retries (2 trips)

        async def own_pipeline() -> list[Any]:
            async with batching.pipeline(transaction=False) as pipe:
                pipe.get(string)
                pipe.hmget(hashed, "a", "z")
                return await pipe.execute()

        async def failing_pipeline() -> list[Any]:
            async with batching.pipeline(transaction=False) as pipe:
                pipe.get(string)
                pipe.hgetall(string)  # (WRONGTYPE: the caller's pipeline fails, the batch does not)
                return await pipe.execute()

        answers = await asyncio.gather(
            batching.get(string), batching.mget([string, members + "-none"]), batching.hgetall(hashed),
            batching.smismember(members, ["x", "y"]), own_pipeline(), hgetall_many(batching, [hashed, string]),
            failing_pipeline(), return_exceptions=True)
        assert counting.pipelines == 1  # seven readers, one round trip
        assert isinstance(answers[6], ResponseError), answers[6]
        assert answers[:5] == [await redis.get(string), await redis.mget([string, members + "-none"]),
                               await redis.hgetall(hashed), await redis.smismember(members, ["x", "y"]),
                               ["s", ["1", None]]]
        assert isinstance(answers[5], ResponseError)  # HGETALL of a string: that caller's own error only
        await redis.script_flush()  # NOSCRIPT for the bulk read: it loads the script through the batch too
        assert await hgetall_many(batching, [hashed]) == [{"a": "1", "b": "2"}]
    finally:
        await redis.delete(string, hashed, members)
        await redis.aclose()


async def test_redis_down_fails_every_caller_of_the_batch(settings: Settings) -> None:
    down = async_client(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    batching = BatchingRedis(down)
    try:
        answers = await asyncio.gather(batching.get("a"), batching.hmget("b", "f"), return_exceptions=True)
        assert all(isinstance(a, RedisConnectionError) for a in answers), answers
        with pytest.raises(ValueError):
            batching.pipeline(transaction=True)
    finally:
        await down.aclose()


async def test_status_reads_of_one_turn_share_a_round_trip_with_the_plain_answers(settings: Settings) -> None:
    """The status read's commands (SCARD or SMEMBERS, HMGET, the unread-notifications script by its text) in
    callers' own pipelines: two users' reads, one pipeline, each the answer the plain client gives."""
    redis = async_client(settings)
    counting = CountingPipelines(redis)
    batching = BatchingRedis(counting)
    lists = NotificationLists(redis, "test", 10)
    users = [new_id(), new_id()]
    try:
        await redis.sadd(keys.unread_senders(users[0]), "a", "b")
        await redis.hset(keys.presence(users[1]), mapping={"status": "online", "last_seen": "5"})
        await redis.zadd(keys.notification_updated(users[1]), {"n1": 10, "n2": 20})
        await redis.set(keys.notification_read(users[1]), "10")
        await redis.set(keys.notification_whole(users[1]), 1)  # (users[0]'s list is not known: counted elsewhere)

        async def status(client: Any, user: str, detail: bool) -> list[Any]:
            async with client.pipeline(transaction=False) as pipe:
                (pipe.smembers if detail else pipe.scard)(keys.unread_senders(user))
                pipe.hmget(keys.presence(user), "status", "last_seen")
                lists.unread_in(pipe, user)
                return list(await pipe.execute())

        batched = await asyncio.gather(status(batching, users[0], True), status(batching, users[1], False))
        assert counting.pipelines == 1
        assert batched == [await status(redis, users[0], True), await status(redis, users[1], False)]
        assert batched[1] == [0, ["online", "5"], [1, 1, "0"]]  # one notification updated after the read mark
        assert batched[0][2] == [0, 0, "0"]  # no list known whole: the status counts in Cassandra
    finally:
        await redis.delete(*(key for user in users for key in (
            keys.unread_senders(user), keys.presence(user), keys.notification_updated(user),
            keys.notification_read(user), keys.notification_whole(user))))
        await redis.aclose()


async def test_feed_pages_of_one_turn_share_a_round_trip_with_the_plain_answers(settings: Settings) -> None:
    """Two readers' feed pages (page script, the celebrity set's marker, which celebrities the reader follows)
    read together through the batching client with a pull page (all by EVALSHA): one shared pipeline, each
    answer the one the plain client gives."""
    redis = async_client(settings)
    counting = CountingPipelines(redis)
    plain = FeedCache(redis, cap=10, ttl_s=60)
    shared = FeedCache(redis, cap=10, ttl_s=60, reads=BatchingRedis(counting))
    follows = PartitionCache(redis, FOLLOWING)
    users, author, unfollowed = [new_id(), new_id()], new_id(), new_id()
    posts = sorted(new_id() for _ in range(4))
    try:
        await plain.build(users[0], posts[:3])
        await plain.build(users[1], posts[2:])
        await plain.replace_pull(author, posts[1:3])
        await plain.replace_pull(unfollowed, [posts[0]])
        # (the worker marks it once it built the set)
        await plain.mark_celebrities_built([author, unfollowed], await plain.fence_celebrities())
        # users[0]'s follows are copied (the celebrity and someone else), users[1]'s are not
        assert await follows.fill(users[0], "", {author: "1", new_id(): "1"})

        async def read(cache: FeedCache) -> list[Any]:
            return list(await asyncio.gather(cache.page_and_pull_authors(users[0], None, 2),
                                             cache.page_and_pull_authors(users[1], posts[3], 5),
                                             cache.pull_pages([author], None, 5)))

        for script in (PAGE, PAGES, MEMBERS_IN_SET):  # as any earlier read has (the first after a Redis start: below)
            await redis.script_load(script)
        batched = await read(shared)
        assert counting.pipelines == 1
        assert batched == await read(plain)
        assert batched[0] == ((posts[2:0:-1], False), PullAuthors(True, [author]))  # newest first, two asked
        assert batched[1] == (([posts[2]], False), PullAuthors(True, None))  # below the cursor; no copy to ask
        assert batched[2] == [(posts[2:0:-1], False)]  # the pull set's page
        await redis.script_flush()  # NOSCRIPT for the pull pages: the script is loaded and they are asked again
        assert await shared.pull_pages([author], posts[2], 5) == [([posts[1]], False)]
        await redis.script_flush()  # and for the feed page's two scripts
        assert await shared.page_and_pull_authors(users[0], None, 2) == batched[0]
    finally:
        await redis.delete(*(keys.feed(u) for u in users), keys.feed_pull(author), keys.feed_pull(unfollowed),
                           keys.partition_copy(FOLLOWING, users[0]))
        await redis.srem(keys.feed_celebrities(), author, unfollowed)
        await redis.aclose()


async def test_which_celebrities_a_reader_follows_walks_the_smaller_side(settings: Settings) -> None:
    """The script answers the same from either side: the reader's follows when they are fewer than the
    celebrities, the celebrities when they are fewer; and nothing when the copy cannot answer."""
    redis = async_client(settings)
    followed = sorted(new_id() for _ in range(3))
    celebrities, copy = f"test:celebrities:{{{new_id()}}}", f"test:copy:{{{new_id()}}}"
    try:
        await redis.script_load(MEMBERS_IN_SET)
        await redis.sadd(celebrities, "\x00built")
        # no celebrity but the marker: none followed, copy or not (one marker: ARGV[1])
        assert await redis.evalsha(MEMBERS_IN_SET_SHA, 2, celebrities, copy, 1) == []
        assert await redis.evalsha(MEMBERS_IN_SET_SHA, 2, celebrities, copy) is None  # markers not said: no copy
        await redis.sadd(celebrities, *followed)
        assert await redis.evalsha(MEMBERS_IN_SET_SHA, 2, celebrities, copy, 1) is None  # no copy
        await redis.hset(copy, mapping={"\x00state": "many"})
        assert await redis.evalsha(MEMBERS_IN_SET_SHA, 2, celebrities, copy) is None  # too many follows to copy
        await redis.hset(copy, mapping={"\x00state": "ok", followed[0]: "1", followed[1]: "1", new_id(): "1"})
        assert sorted(await redis.evalsha(MEMBERS_IN_SET_SHA, 2, celebrities, copy)) == followed[:2]  # 3 < 4
        await redis.hset(copy, mapping={new_id(): "1" for _ in range(10)})
        assert sorted(await redis.evalsha(MEMBERS_IN_SET_SHA, 2, celebrities, copy)) == followed[:2]  # 13 > 4
    finally:
        await redis.delete(celebrities, copy)
        await redis.aclose()


@pytest.mark.parametrize(("celebrity_count", "follow_count"), [
    (150, 400),  # a listpack copy larger than the set: the copy is walked (asking it per member scans it)
    (20, 300),  # a tiny set: the set is walked, whatever the copy's encoding
    (150, 2_500),  # a hashtable copy larger than the set: the set is walked (one HMGET of its 151 members)
    (2_600, 1_200),  # the copy smaller: walked in two chunks
])
async def test_which_celebrities_a_reader_follows_is_exact_whichever_side_is_walked(
        settings: Settings, celebrity_count: int, follow_count: int) -> None:
    """Every side the script may walk, chunked or not, gives exactly the followed celebrities."""
    redis = async_client(settings)
    celebrities, copy = f"test:celebrities:{{{new_id()}}}", f"test:copy:{{{new_id()}}}"
    every = [new_id() for _ in range(celebrity_count)]
    followed = sorted(every[::7])[:40]
    try:
        await redis.script_load(MEMBERS_IN_SET)
        await redis.sadd(celebrities, "\x00built", *every)
        others = {new_id(): "1" for _ in range(follow_count - len(followed))}
        await redis.hset(copy, mapping={"\x00state": "ok", **others, **dict.fromkeys(followed, "1")})
        assert sorted(await redis.evalsha(MEMBERS_IN_SET_SHA, 2, celebrities, copy, 1)) == followed
    finally:
        await redis.delete(celebrities, copy)
        await redis.aclose()
