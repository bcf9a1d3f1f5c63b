"""One test says whether a client talks to Redis Cluster (scripts and pipelines then go per key); plain TCP clients
pack commands with hiredis, byte for byte as redis-py would."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st
from redis.exceptions import DataError

from photostream.settings import Settings
from sinks.redis_batching import BatchingRedis, reads_client
from sinks.redis_client import HiredisPackingConnection, async_client, is_cluster


def test_cluster_clients_of_either_kind_are_told_apart_from_single_servers() -> None:
    # built without connecting: a cluster client's constructor would reach for its nodes
    assert is_cluster(object.__new__(redis.RedisCluster))
    assert is_cluster(object.__new__(aioredis.RedisCluster))
    single = async_client(Settings(redis_url="redis://127.0.0.1:1/0"))  # lazy: connects on first command
    assert not is_cluster(single)
    assert isinstance(reads_client(single), BatchingRedis)  # batching only where one pipeline reaches every key
    cluster = object.__new__(aioredis.RedisCluster)
    assert reads_client(cluster) is cluster


# --- commands packed by hiredis ------------------------------------------------------------------------------------

ARGUMENT = st.one_of(st.text(max_size=40), st.binary(max_size=40), st.integers(-(2**70), 2**70),
                     st.floats(allow_nan=False), st.sampled_from(["ключ", "#café", "", " spaced arg "]),
                     st.binary(max_size=40).map(bytearray), st.binary(max_size=40).map(memoryview))


@given(st.sampled_from(["SET", "EVALSHA", "ZADD", b"HMGET", "CONFIG GET", b"CLIENT SETNAME"]),
       st.lists(ARGUMENT, max_size=30))
def test_hiredis_packs_the_bytes_redis_py_packs(command: str | bytes, arguments: list[object]) -> None:
    python, hiredis = aioredis.Connection(), HiredisPackingConnection()
    assert b"".join(hiredis.pack_command(command, *arguments)) == b"".join(python.pack_command(command, *arguments))
    pipeline = [(command, *arguments), ("GET", "k")]
    assert b"".join(hiredis.pack_commands(pipeline)) == b"".join(python.pack_commands(pipeline))


def test_hiredis_refuses_what_redis_py_refuses_with_its_error() -> None:
    for bad in (None, True, [1]):
        with pytest.raises(DataError):
            HiredisPackingConnection().pack_command("SET", "k", bad)


def test_plain_tcp_clients_pack_with_hiredis_and_tls_ones_keep_redis_py_own() -> None:
    plain = async_client(Settings(redis_url="redis://127.0.0.1:1/0"))
    assert plain.connection_pool.connection_class is HiredisPackingConnection
    tls = async_client(Settings(redis_url="rediss://127.0.0.1:1/0"))
    assert tls.connection_pool.connection_class is aioredis.SSLConnection
