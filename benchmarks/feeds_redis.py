"""Home feed, Redis side: fan-out insert rate, its growth with the follower count, and memory per entry.

Fan-out drives :meth:`sinks.feeds.FeedCache.add` exactly as the feeds processor's ``_push`` does — one call
(one pipeline) per page of ``fanout_page_size`` followers, one post per call — into built feeds already full
to ``feed_cap`` (the steady state: every insert lands at the head, the tail is cut). Baseline: the
``redis-benchmark`` binary, pipelined ``ZADD`` (``-P 16``, 50 connections, random keys and members) on the
same Redis, same database, right after. Growth from 1 to 100k followers times the same calls for one post;
followers above the pool of full feeds map onto it round-robin (page ``i`` writes the pool's feeds again),
so every insert still edits a full feed without holding 100k feeds (1.6 GB) in the shared Redis. The
Cassandra follower-page reads that precede each page in the processor are timed separately.
Memory: ``MEMORY USAGE … SAMPLES 0`` of full feeds as :meth:`FeedCache.build` writes them, divided by entries;
baseline: a plain sorted set (score 0, UUID strings: the previous layout) of the same ids.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from benchmarks.env import BenchError
from photostream.settings import Settings
from producers.ids import new_id
from sinks import keys
from sinks.feed_lists import unpack
from sinks.feeds import FeedCache
from sinks.redis_client import async_client

FANOUT_GOAL = 0.4
MEMORY_GOAL_B = 24.0
GROWTH_FOLLOWERS = (1, 10, 100, 1_000, 10_000, 100_000)


@dataclass
class FanoutFigures:
    inserts: int = 0
    seconds: float = 0.0
    zadd_per_s: float = 0.0
    zadd_command: str = ""
    #: Redis' own microseconds per insert (INFO commandstats deltas over each phase; the server is shared)
    redis_us_per_insert: float = float("nan")
    redis_us_per_zadd: float = float("nan")
    client_cpu_s: float = 0.0
    #: followers -> seconds to fan out one post (median of repetitions)
    growth: dict[int, float] = field(default_factory=dict)

    @property
    def per_s(self) -> float:
        return self.inserts / self.seconds if self.seconds else float("nan")


@dataclass
class MemoryFigures:
    feeds: int
    entries: int
    packed_bytes: int
    zset_bytes: int
    encoding_packed: str
    encoding_zset: str

    @property
    def packed_per_entry(self) -> float:
        return self.packed_bytes / self.entries

    @property
    def zset_per_entry(self) -> float:
        return self.zset_bytes / self.entries


def fill_ids(count: int) -> list[str]:
    """``count`` fresh UUIDv7 ids, all older than any id minted afterwards (new posts land at the head)."""
    return [new_id() for _ in range(count)]


async def build_full_feeds(cache: FeedCache, users: list[str], cap: int) -> None:
    for start in range(0, len(users), 200):
        await asyncio.gather(*(cache.build(u, fill_ids(cap)) for u in users[start:start + 200]))


def _commandstats(client: redis.Redis[bytes], command: str) -> tuple[int, float]:
    stats = client.info("commandstats").get(f"cmdstat_{command}", {})
    return int(stats.get("calls", 0)), float(stats.get("usec", 0))


async def fanout_rate(settings: Settings, users: list[str], posts: int, figures: FanoutFigures) -> None:
    """``posts`` posts, each pushed to every user in ``users`` in pages of ``fanout_page_size``."""
    client = async_client(settings)
    sync: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
    cache = FeedCache(client, settings.feed_cap, settings.feed_ttl_s)
    page = settings.fanout_page_size
    try:
        await cache.add({users[0]: [new_id()]})  # script registration, connection
        calls0, usec0 = _commandstats(sync, "evalsha")
        cpu0, started = time.process_time(), time.perf_counter()
        for _ in range(posts):
            post = [new_id()]
            for i in range(0, len(users), page):
                await cache.add(dict.fromkeys(users[i:i + page], post))
        figures.seconds = time.perf_counter() - started
        figures.client_cpu_s = time.process_time() - cpu0
        figures.inserts = posts * len(users)
        calls1, usec1 = _commandstats(sync, "evalsha")
        if calls1 > calls0:  # one call edits a page of feeds: the time per insert, not per call
            figures.redis_us_per_insert = (usec1 - usec0) / figures.inserts
    finally:
        await client.aclose()
        sync.close()


def redis_benchmark_zadd(settings: Settings, db: int, requests: int, figures: FanoutFigures) -> None:
    """The baseline: ``redis-benchmark`` pipelined ZADD on random keys of our database (flushed at the end)."""
    binary = shutil.which("redis-benchmark")
    if binary is None:
        raise BenchError("redis-benchmark is not on PATH (Debian: redis-tools)")
    host, port = re.match(r"redis://([^:/]+):(\d+)", settings.redis_url).groups()  # type: ignore[union-attr]
    prefix = keys.feed("bench-zadd-")  # never a real user's feed: not a UUID
    command = [binary, "-h", host, "-p", port, "--dbnum", str(db), "-P", "16", "-n", str(requests),
               "-r", "100000", "--csv", "ZADD", f"{prefix}__rand_int__", "0", "m:__rand_int__"]
    sync: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
    calls0, usec0 = _commandstats(sync, "zadd")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    calls1, usec1 = _commandstats(sync, "zadd")
    if done.returncode != 0:
        raise BenchError(f"redis-benchmark failed: {done.stderr[-500:]}")
    rows = [line for line in done.stdout.splitlines() if line.startswith('"ZADD')]
    if not rows:
        raise BenchError(f"no ZADD row in redis-benchmark's output: {done.stdout[-500:]}")
    figures.zadd_per_s = float(rows[-1].split(",")[1].strip('"'))
    figures.zadd_command = " ".join(["redis-benchmark", *command[1:3], "…", *command[5:]])
    if calls1 - calls0 >= requests:
        figures.redis_us_per_zadd = (usec1 - usec0) / (calls1 - calls0)
    for key in sync.scan_iter(match=f"{prefix}*", count=5000):
        sync.unlink(key)
    sync.close()


async def growth(settings: Settings, pool: list[str], followers: tuple[int, ...], figures: FanoutFigures) -> None:
    """Seconds to push one post to ``n`` followers (pool feeds reused round-robin above the pool's size)."""
    client = async_client(settings)
    cache = FeedCache(client, settings.feed_cap, settings.feed_ttl_s)
    page = settings.fanout_page_size
    try:
        for n in followers:
            repeats = max(1, min(20, 20_000 // n))
            timings = []
            for _ in range(repeats):
                post = [new_id()]
                started = time.perf_counter()
                for i in range(0, n, page):
                    chunk = [pool[j % len(pool)] for j in range(i, min(n, i + page))]
                    await cache.add(dict.fromkeys(chunk, post))
                timings.append(time.perf_counter() - started)
            figures.growth[n] = statistics.median(timings)
    finally:
        await client.aclose()


def memory(settings: Settings, users: list[str]) -> MemoryFigures:
    """MEMORY USAGE of the (full) feeds of ``users`` vs sorted sets of the very same ids."""
    sync: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
    packed = zset = entries = 0
    zset_key = keys.feed("bench-zset-baseline")
    encodings: tuple[Any, Any] = ("", "")
    try:
        for user in users:
            key = keys.feed(user)
            if not sync.exists(key):
                raise BenchError(f"feed {key} is not built")
            ids = unpack(sync.lrange(key, 0, -1))
            entries += len(ids)
            packed += int(sync.memory_usage(key, samples=0) or 0)
            with sync.pipeline(transaction=False) as pipe:
                pipe.delete(zset_key)
                pipe.zadd(zset_key, dict.fromkeys(ids, 0))
                pipe.execute()
            zset += int(sync.memory_usage(zset_key, samples=0) or 0)
            encodings = (sync.object("encoding", key), sync.object("encoding", zset_key))
        sync.delete(zset_key)
    finally:
        sync.close()
    decode = [e.decode() if isinstance(e, bytes) else str(e) for e in encodings]
    return MemoryFigures(len(users), entries, packed, zset, decode[0], decode[1])
