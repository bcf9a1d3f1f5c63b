"""Redis clients for a single server or Redis Cluster, chosen by settings."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aioredis

from photostream.settings import Settings


def sync_client(settings: Settings) -> Any:
    if settings.redis_cluster:
        return redis.RedisCluster.from_url(settings.redis_url, decode_responses=True)
    return redis.Redis.from_url(settings.redis_url, decode_responses=True)


def async_client(settings: Settings) -> Any:
    if settings.redis_cluster:
        return aioredis.RedisCluster.from_url(settings.redis_url, decode_responses=True)
    return aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
