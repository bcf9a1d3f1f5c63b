"""Reads issued together go to Redis together: commands queued by concurrent readers within one event-loop turn
are sent as one pipeline.

Why: a hydrated page asks Redis for the authors' profiles, the counts, the viewer's relations and likes (their
partition copies) and the set of tagged posts — five independent readers in five modules, started together by
one ``asyncio.gather``. redis-py costs ~100–125 µs of client CPU per round trip on top of ~13 µs per command
(measured on this stack), so five pipelines of one or two commands cost four round trips more than one
pipeline holding them all. Rather than merge the readers (and their modules), each keeps asking its own
questions through :class:`BatchingRedis`, which collects every command queued before the event loop's next
turn and sends them as one non-transactional pipeline; each caller gets its own answer or its own error.

Only what the read paths send is offered (a few read commands and read scripts by their text, alone or in a
caller's pipeline); the same readers' writes (cache fills, write scripts) keep the plain client, so each
reader takes both (``reads=``). Not for
Redis Cluster (a cluster pipeline splits by slot anyway): :func:`reads_client` gives the plain client there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sinks.redis_client import is_cluster, is_plain_tcp
from sinks.redis_mux import RedisMux


class BatchingRedis:
    """A read-only stand-in for the async client whose commands share one pipeline per event-loop turn.

    With ``mux`` (:class:`sinks.redis_mux.RedisMux`) each turn's pipeline goes out on that one connection;
    without, through ``redis``'s own pipeline. The answers are the same either way."""

    def __init__(self, redis: Any, mux: RedisMux | None = None) -> None:
        self._redis = redis
        self._mux = mux
        #: what redis-py makes of a reply (HGETALL's pairs → a dict, ...), applied to the mux's replies
        self._callbacks: dict[str, Callable[..., Any]] = dict(redis.response_callbacks) if mux is not None else {}
        #: this turn's callers: each one's commands, and the future of its answer (a command's reply, or for a
        #: caller's pipeline the list of its replies, errors in place)
        self._queued: list[tuple[list[tuple[Any, ...]], bool, asyncio.Future[Any]]] = []
        #: pipelines in flight, kept referenced until they finish
        self._sending: set[asyncio.Task[None]] = set()

    def _queue(self, *command: Any) -> asyncio.Future[Any]:
        """One command; the future of its reply (or of its error)."""
        return self._enqueue([command], True)

    def _queue_all(self, commands: list[tuple[Any, ...]]) -> asyncio.Future[list[Any]]:
        """A caller's pipeline as one entry with one future, of every reply in order (an error in its place):
        a future per command, gathered, cost the status read ~5 µs a command, and it sends eight."""
        return self._enqueue(commands, False)

    def _enqueue(self, commands: list[tuple[Any, ...]], single: bool) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._queued:
            loop.call_soon(self._flush)
        self._queued.append((commands, single, future))
        return future

    def _flush(self) -> None:
        queued, self._queued = self._queued, []
        task = asyncio.get_running_loop().create_task(self._send(queued))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _send(self, queued: list[tuple[list[tuple[Any, ...]], bool, asyncio.Future[Any]]]) -> None:
        commands = [command for each, _, _ in queued for command in each]
        try:
            if self._mux is not None:
                replies = await self._mux.send(commands)
                results = [self._as_redis_py(command[0], reply)
                           for command, reply in zip(commands, replies, strict=True)]
            else:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for command in commands:
                        pipe.execute_command(*command)
                    results = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # the connection failed: every caller gets the error (Redis down → a miss)
            for _, _, future in queued:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException:  # cancelled (shutting down): so are the callers' waits
            for _, _, future in queued:
                future.cancel()
            raise
        start = 0
        for each, single, future in queued:
            answers, start = results[start:start + len(each)], start + len(each)
            if future.done():
                continue
            if not single:
                future.set_result(answers)
            elif isinstance(answers[0], Exception):
                future.set_exception(answers[0])
            else:
                future.set_result(answers[0])

    def _as_redis_py(self, command: str, reply: Any) -> Any:
        callback = self._callbacks.get(command)
        return reply if callback is None or isinstance(reply, Exception) else callback(reply)

    def close(self) -> None:
        """Close the batches' own connection (if any); the plain client is its owner's to close."""
        if self._mux is not None:
            self._mux.close()

    # --- the commands the read paths send --------------------------------------------------------------------
    async def get(self, key: str) -> Any:
        return await self._queue("GET", key)

    async def mget(self, keys: list[str]) -> Any:
        return await self._queue("MGET", *keys)

    async def hmget(self, key: str, *fields: str) -> Any:
        return await self._queue("HMGET", key, *fields)

    async def hgetall(self, key: str) -> Any:
        return await self._queue("HGETALL", key)

    async def smismember(self, key: str, members: list[str]) -> Any:
        return await self._queue("SMISMEMBER", key, *members)

    async def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        return await self._queue("EVALSHA", sha, numkeys, *keys_and_args)

    async def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any:
        return await self._queue("EVAL", script, numkeys, *keys_and_args)

    def pipeline(self, transaction: bool = False) -> _Pipeline:
        if transaction:
            raise ValueError("BatchingRedis sends non-transactional pipelines only")
        return _Pipeline(self)


class _Pipeline:
    """A caller's own pipeline: its commands join the shared batch; ``execute`` answers them in order."""

    def __init__(self, batching: BatchingRedis) -> None:
        self._batching = batching
        self._commands: list[tuple[Any, ...]] = []

    async def __aenter__(self) -> _Pipeline:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._commands.clear()

    def _command(self, *command: Any) -> _Pipeline:
        self._commands.append(command)
        return self

    def get(self, key: str) -> _Pipeline:
        return self._command("GET", key)

    def hmget(self, key: str, *fields: str) -> _Pipeline:
        return self._command("HMGET", key, *fields)

    def hgetall(self, key: str) -> _Pipeline:
        return self._command("HGETALL", key)

    def exists(self, key: str) -> _Pipeline:
        return self._command("EXISTS", key)

    def scard(self, key: str) -> _Pipeline:
        return self._command("SCARD", key)

    def smembers(self, key: str) -> _Pipeline:
        return self._command("SMEMBERS", key)

    def sismember(self, key: str, member: str) -> _Pipeline:
        return self._command("SISMEMBER", key, member)

    def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> _Pipeline:
        """A script by its text (never NOSCRIPT; for short ones, whose text costs little): a read's script — the
        feed page's included, whose only write is its feed's TTL refresh, idempotent."""
        return self._command("EVAL", script, numkeys, *keys_and_args)

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> _Pipeline:
        """A loaded script by its SHA1: NOSCRIPT fails ``execute`` (a read's caller loads it and asks again)."""
        return self._command("EVALSHA", sha, numkeys, *keys_and_args)

    async def execute(self) -> list[Any]:
        if not self._commands:
            return []
        commands, self._commands = self._commands, []
        results: list[Any] = await self._batching._queue_all(commands)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results


def reads_client(redis: Any) -> Any:
    """The client the API's batched read paths use: batching, except on Redis Cluster; on its own pipelined
    connection (:mod:`sinks.redis_mux`) where ``redis`` speaks plain TCP."""
    if is_cluster(redis):
        return redis
    return BatchingRedis(redis, RedisMux.like(redis) if is_plain_tcp(redis) else None)
