"""One pipelined connection to Redis for the API's batched reads: commands packed and replies parsed by hiredis,
each batch's replies handed back in order.

Why: the batched read path (:mod:`sinks.redis_batching`) sends one pipeline per event-loop turn, and redis-py's
asyncio pipeline costs ~120 µs of client CPU per round trip on this stack (a pooled connection taken and given
back, a timeout scope and a retry wrapper per read, observability hooks, a parse callback per reply) where the
socket write, the read and hiredis's C parser cost ~17 µs (measured with the same two-command pipeline, same
Redis, same event loop). A status read is one such round trip and a feed page three. Here every batch is
written to one connection as it comes (Redis answers a connection's commands in order, so batches in flight
need no pool), and replies are matched to their batch by position.

What it keeps of redis-py: the protocol it speaks (RESP3, so a map is a dict; the batching client then applies
redis-py's own reply callbacks), its exception classes (an error reply becomes the exception redis-py would raise, a
NOSCRIPT a ``NoScriptError``; a lost or refused connection a ``ConnectionError``; no reply within the timeout a
``TimeoutError``, after which the connection is closed, since later replies could no longer be matched) and
its URL's host, port, database and credentials. Only plain ``redis://`` URLs use it (see
:func:`sinks.redis_batching.reads_client`); TLS and Redis Cluster keep redis-py.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis._parsers.base import BaseParser
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

Command = Sequence[Any]

#: a batch waiting for its replies: its future, how many replies it expects, those read so far
_Waiting = tuple["asyncio.Future[list[Any]]", int, list[Any]]


class _ReplyProtocol(asyncio.Protocol):
    """Feeds the socket's bytes to hiredis and resolves the oldest waiting batch once its replies are in."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[_Waiting] = deque()
        self.lost: BaseException | None = None
        self._reader = hiredis.Reader(notEnoughData=Ellipsis, encoding="utf-8")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        while (reply := reader.gets()) is not Ellipsis:
            if not self.waiting:  # a reply nobody asked for: the stream cannot be trusted any more
                self.fail(RedisConnectionError("Redis sent a reply nobody was waiting for"))
                return
            future, expected, replies = self.waiting[0]
            replies.append(_error(reply) if isinstance(reply, hiredis.ReplyError) else reply)
            if len(replies) == expected:
                self.waiting.popleft()
                if not future.done():
                    future.set_result(replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail(RedisConnectionError(f"connection to Redis lost: {exc or 'closed'}"))

    def fail(self, error: BaseException) -> None:
        """Every waiting batch fails with ``error``; the connection is closed and not used again."""
        self.lost = self.lost or error
        while self.waiting:
            future, _, _ = self.waiting.popleft()
            if not future.done():
                future.set_exception(error)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


def _error(reply: hiredis.ReplyError) -> Exception:
    """The exception redis-py raises for this error reply (``ResponseError``, ``NoScriptError``, ...)."""
    error: Exception = BaseParser.parse_error(str(reply))  # type: ignore[no-untyped-call]
    return error


class RedisMux:
    """A lazily (re)connected, pipelined connection; :meth:`send` is safe to call from concurrent tasks."""

    def __init__(self, host: str, port: int, db: int = 0, username: str | None = None,
                 password: str | None = None, timeout_s: float = 5.0) -> None:
        self._address = (host, port)
        # RESP3, as redis-py 8 speaks by default: the same reply types (a map is a dict) for the same callbacks
        hello: list[Any] = ["HELLO", 3]
        if password is not None:
            hello += ["AUTH", username or "default", password]
        self._hello: list[Command] = [tuple(hello)]
        if db:
            self._hello.append(("SELECT", db))
        self._timeout_s = timeout_s
        self._protocol: _ReplyProtocol | None = None
        self._connecting: asyncio.Lock | None = None

    @classmethod
    def like(cls, redis: Any, timeout_s: float = 5.0) -> RedisMux:
        """A connection to the server (and database, credentials) of a redis-py client's pool."""
        options = redis.connection_pool.connection_kwargs
        return cls(options.get("host", "localhost"), int(options.get("port", 6379)), int(options.get("db", 0)),
                   options.get("username"), options.get("password"), timeout_s)

    async def send(self, commands: Sequence[Command]) -> list[Any]:
        """Each command's reply in order: its value, or the exception instance an error reply stands for.
        Raises ``ConnectionError`` (Redis unreachable, the connection lost) or ``TimeoutError``."""
        protocol = await self._connected()
        return await self._exchange(protocol, commands)

    async def _exchange(self, protocol: _ReplyProtocol, commands: Sequence[Command]) -> list[Any]:
        assert protocol.transport is not None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()
        protocol.waiting.append((future, len(commands), []))
        protocol.transport.write(b"".join([hiredis.pack_command(tuple(command)) for command in commands]))
        # a timer rather than asyncio.wait_for, which costs a task per call on this hot path
        timer = loop.call_later(self._timeout_s, self._expire, protocol, future)
        try:
            return await future
        finally:
            timer.cancel()

    def _expire(self, protocol: _ReplyProtocol, future: asyncio.Future[list[Any]]) -> None:
        if not future.done():
            protocol.fail(RedisTimeoutError(f"no reply from Redis within {self._timeout_s:g} s"))

    async def _connected(self) -> _ReplyProtocol:
        protocol = self._protocol
        if protocol is not None and protocol.lost is None:
            return protocol
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:  # one connect for every caller that found the connection gone
            protocol = self._protocol
            if protocol is not None and protocol.lost is None:
                return protocol
            self._protocol = await self._connect()
            return self._protocol

    async def _connect(self) -> _ReplyProtocol:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(_ReplyProtocol, *self._address), self._timeout_s)
        except (TimeoutError, OSError) as exc:
            raise RedisConnectionError(f"cannot connect to Redis at {self._address[0]}:{self._address[1]}: "
                                       f"{exc or type(exc).__name__}") from None
        for reply in await self._exchange(protocol, self._hello):  # HELLO 3 (and AUTH, SELECT) first
            if isinstance(reply, Exception):
                protocol.fail(RedisConnectionError(f"Redis refused the connection's set-up: {reply}"))
                raise reply
        return protocol

    def close(self) -> None:
        if self._protocol is not None:
            self._protocol.fail(RedisConnectionError("closed"))
            self._protocol = None
