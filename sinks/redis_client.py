"""Redis clients for a single server or Redis Cluster, chosen by settings."""

from __future__ import annotations

from typing import Any

import hiredis
import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from photostream.settings import Settings


def is_cluster(client: Any) -> bool:
    """Whether ``client`` talks to Redis Cluster, where a script or a pipeline's command may touch keys of one
    hash slot only: the one test every multi-key read and write path makes (sync or async client)."""
    return isinstance(client, (redis.RedisCluster, aioredis.RedisCluster))


def is_plain_tcp(client: Any) -> bool:
    """Whether ``client``'s pool speaks plain TCP (a ``redis://`` URL: no TLS, no Unix socket): where
    :func:`async_client` gives it hiredis-packing connections, and the API's batched reads their own pipelined
    connection (``sinks.redis_batching.reads_client``)."""
    pool = getattr(client, "connection_pool", None)
    return pool is not None and pool.connection_class is HiredisPackingConnection


def sync_client(settings: Settings) -> Any:
    if settings.redis_cluster:
        return redis.RedisCluster.from_url(settings.redis_url, decode_responses=True)
    return redis.Redis.from_url(settings.redis_url, decode_responses=True)


#: Connections per process; under overload callers wait for one (up to the timeout) instead of failing.
MAX_CONNECTIONS = 64
POOL_TIMEOUT_S = 5.0


class HiredisPackingConnection(aioredis.Connection):
    """redis-py's asyncio connection with commands packed by hiredis's C packer, as its sync connection already
    does when hiredis is installed (redis-py 8 packs asyncio commands in Python).

    Why: packing was ~20% of an API process's busy CPU serving ``GET /feed`` (py-spy, in the feed benchmark):
    every argument of every command costs an encode, a length and a join in Python, and a page's reads and the
    workers' fan-out and badge scripts carry tens of arguments per command. hiredis packs a 22-argument
    command in ~2 µs instead of ~20 µs; the bytes are the same (``tests/unit/test_redis_client.py``)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        name = args[0]
        if (" " in name) if isinstance(name, str) else (b" " in name):  # 'CONFIG GET': sent as two arguments
            args = (*name.split(), *args[1:])
        try:  # the arguments as they are (redis-py's sync serializer first walks them in Python for bytearrays)
            return [hiredis.pack_command(args)]
        except TypeError:  # a bytearray, or a value redis-py refuses: its own packer (and its DataError)
            return super().pack_command(*args)


def async_client(settings: Settings) -> Any:
    if settings.redis_cluster:
        return aioredis.RedisCluster.from_url(settings.redis_url, decode_responses=True,
                                              max_connections=MAX_CONNECTIONS)
    # A pooled connection left from before a Redis restart fails on its next use ("Connection closed by
    # server"); one immediate retry on a fresh connection replaces it instead of failing that request (every
    # Redis write here is absolute state, so a retried one is harmless). A pool built by hand, as here, has no
    # retry unless given one (the fault test's Redis restart found a feed read failing as a 503).
    options: dict[str, Any] = {"retry": Retry(NoBackoff(), 1), "retry_on_error": [redis.exceptions.ConnectionError]}
    if settings.redis_url.startswith("redis://"):  # (TLS and sockets keep redis-py's own connections)
        options["connection_class"] = HiredisPackingConnection
    pool: Any = aioredis.BlockingConnectionPool.from_url(settings.redis_url, decode_responses=True,
                                                    max_connections=MAX_CONNECTIONS, timeout=POOL_TIMEOUT_S,
                                                    **options)
    return aioredis.Redis(connection_pool=pool)
