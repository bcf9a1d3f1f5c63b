"""One test says whether a client talks to Redis Cluster (scripts and pipelines then go per key)."""

from __future__ import annotations

import redis
import redis.asyncio as aioredis

from photostream.settings import Settings
from sinks.redis_batching import BatchingRedis, reads_client
from sinks.redis_client import async_client, is_cluster


def test_cluster_clients_of_either_kind_are_told_apart_from_single_servers() -> None:
    # built without connecting: a cluster client's constructor would reach for its nodes
    assert is_cluster(object.__new__(redis.RedisCluster))
    assert is_cluster(object.__new__(aioredis.RedisCluster))
    single = async_client(Settings(redis_url="redis://127.0.0.1:1/0"))  # lazy: connects on first command
    assert not is_cluster(single)
    assert isinstance(reads_client(single), BatchingRedis)  # batching only where one pipeline reaches every key
    cluster = object.__new__(aioredis.RedisCluster)
    assert reads_client(cluster) is cluster
