"""Redis clients for a single server or Redis Cluster, chosen by settings."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis

from photostream.settings import Settings


def is_cluster(client: Any) -> bool:
    """Whether ``client`` talks to Redis Cluster, where a script or a pipeline's command may touch keys of one
    hash slot only: the one test every multi-key read and write path makes (sync or async client)."""
    return isinstance(client, (redis.RedisCluster, aioredis.RedisCluster))


def sync_client(settings: Settings) -> Any:
    if settings.redis_cluster:
        return redis.RedisCluster.from_url(settings.redis_url, decode_responses=True)
    return redis.Redis.from_url(settings.redis_url, decode_responses=True)


#: Connections per process; under overload callers wait for one (up to the timeout) instead of failing.
MAX_CONNECTIONS = 64
POOL_TIMEOUT_S = 5.0


def async_client(settings: Settings) -> Any:
    if settings.redis_cluster:
        return aioredis.RedisCluster.from_url(settings.redis_url, decode_responses=True,
                                              max_connections=MAX_CONNECTIONS)
    pool: Any = aioredis.BlockingConnectionPool.from_url(settings.redis_url, decode_responses=True,
                                                    max_connections=MAX_CONNECTIONS, timeout=POOL_TIMEOUT_S)
    return aioredis.Redis(connection_pool=pool)
