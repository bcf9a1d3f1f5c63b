"""Benchmark 8: the home feed — fan-out rate, memory per entry, GET /feed, post → feed latency, celebrities.

Each part's method is in its module's docstring: :mod:`benchmarks.feeds_redis` (fan-out through
``FeedCache.add`` vs ``redis-benchmark`` ZADD, growth with followers, ``MEMORY USAGE``),
:mod:`benchmarks.feeds_pipeline` (power-law graph through the real worker and Kafka, maximum ingest, latency
at half of it), :mod:`benchmarks.feeds_api` (GET /feed vs a bare Starlette endpoint served the same way, and
the read cost vs celebrities followed). Every figure stands next to a baseline measured in this run.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass

import redis

from benchmarks import api_reads, feeds_api, feeds_pipeline, feeds_redis
from benchmarks.cpu import CpuWindow
from benchmarks.env import BenchEnv, BenchError
from benchmarks.feeds_pipeline import LATENCY_GOAL_MS, Graph
from benchmarks.report import Section, from_docstring
from benchmarks.stats import Distribution, fmt_ms, fmt_rate, fmt_ratio, fmt_us, ratio, verdict
from photostream.settings import Settings
from producers.ids import new_id
from sinks import keys
from sinks.cassandra import connect
from sinks.feed_lists import trim_at
from sinks.feeds import FeedCache
from sinks.photo_derivatives import PhotoDerivatives
from sinks.redis_client import async_client

NUMBER = 8
TITLE = "8. Home feed: fan-out, memory, GET /feed, post → feed latency, celebrities"
API_SATURATION_GOAL = 0.5
API_P99_GOAL_MS = 10.0
FEED_LIMIT = 20
HEADERS = ["measure", "photostream", "same-run baseline", "ratio", "goal"]


@dataclass(frozen=True)
class Volumes:
    pool_feeds: int = 2_000
    #: one whole cut cycle of a full feed (the slack, plus the insert that triggers the cut), so the figure holds
    #: the amortised cut exactly as often as the steady state does (settings' default cap)
    fanout_posts: int = trim_at(800) - 800 + 1
    zadd_requests: int = 500_000
    growth_max: int = 100_000
    memory_feeds: int = 200
    users: int = 1_000
    follows_per_user: int = 10
    posts_per_user: int = 3
    threshold: int = 50
    celebrities: int = 100
    readers_per_group: int = 10
    latency_s: float = 20.0
    api_s: float = 10.0

    @classmethod
    def quick(cls) -> Volumes:
        return cls(pool_feeds=300, fanout_posts=3, zadd_requests=100_000, growth_max=10_000, memory_feeds=50,
                   users=200, follows_per_user=5, posts_per_user=3, threshold=20, celebrities=10,
                   readers_per_group=5, latency_s=5.0, api_s=3.0)


def run(env: BenchEnv, quick: bool = False) -> Section:
    v = Volumes.quick() if quick else Volumes()
    section = Section(TITLE, from_docstring(__doc__), list(HEADERS))
    redis_part(env, v, section)
    worker = feeds_pipeline.start_worker(env, v.threshold)
    try:
        graph, celebrity_readers = pipeline_part(env, worker, v, section)
        api_part(env, worker, graph, celebrity_readers, v, section)
    finally:
        env.stop(worker.process)
    return section


# --- 1 and 2: Redis -------------------------------------------------------------------------------------------
def redis_part(env: BenchEnv, v: Volumes, section: Section) -> None:
    settings = env.settings
    pool = feeds_redis.fill_ids(v.pool_feeds)

    async def build() -> None:
        client = async_client(settings)
        try:
            await feeds_redis.build_full_feeds(FeedCache(client, settings.feed_cap, settings.feed_ttl_s), pool,
                                               settings.feed_cap)
        finally:
            await client.aclose()

    asyncio.run(build())
    fan = feeds_redis.FanoutFigures()
    asyncio.run(feeds_redis.fanout_rate(settings, pool, v.fanout_posts, fan))
    feeds_redis.redis_benchmark_zadd(settings, env.redis_db, v.zadd_requests, fan)
    followers = tuple(n for n in feeds_redis.GROWTH_FOLLOWERS if n <= v.growth_max)
    asyncio.run(feeds_redis.growth(settings, pool, followers, fan))
    mem = feeds_redis.memory(settings, pool[:v.memory_feeds])
    client: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
    for start in range(0, len(pool), 500):
        client.unlink(*(keys.feed(u) for u in pool[start:start + 500]))
    client.close()

    share = ratio(fan.per_s, fan.zadd_per_s)
    section.rows.append([
        f"fan-out: feed inserts/s through `FeedCache.add` ({v.fanout_posts} posts × {len(pool):,} full feeds, "
        f"pages of {settings.fanout_page_size:,})", fmt_rate(fan.per_s),
        f"`redis-benchmark` ZADD -P 16, random keys: {fmt_rate(fan.zadd_per_s)}", fmt_ratio(share),
        f"≥ {feeds_redis.FANOUT_GOAL} — {verdict(share >= feeds_redis.FANOUT_GOAL)}"])
    section.rows.append([
        "Redis time per insert (INFO commandstats, shared server)", f"EVALSHA (ADD script) "
        f"{fmt_us(fan.redis_us_per_insert)}", f"ZADD {fmt_us(fan.redis_us_per_zadd)}",
        fmt_ratio(ratio(fan.redis_us_per_insert, fan.redis_us_per_zadd)), "–"])
    one = fan.growth.get(1, float("nan"))
    for n, seconds in fan.growth.items():
        section.rows.append([f"fan-out of one post to {n:,} followers (Redis writes only)", fmt_ms(seconds * 1000),
                             f"1 follower: {fmt_ms(one * 1000)}", fmt_ratio(ratio(seconds, one)),
                             f"{fmt_us(seconds / n * 1e6)} per follower"])
    mem_ok = mem.packed_per_entry <= feeds_redis.MEMORY_GOAL_B
    section.rows.append([
        f"Redis memory per feed entry ({mem.feeds} full feeds, {mem.entries:,} entries, `{mem.encoding_packed}`)",
        f"{mem.packed_per_entry:.1f} B", f"sorted set of the same ids (`{mem.encoding_zset}`): "
        f"{mem.zset_per_entry:.1f} B", fmt_ratio(ratio(mem.packed_per_entry, mem.zset_per_entry)),
        f"≤ {feeds_redis.MEMORY_GOAL_B:g} B — {verdict(mem_ok)}"])
    section.notes.append(
        f"fan-out client: {fan.client_cpu_s:.2f} CPU-s in this process for {fan.inserts:,} inserts "
        f"({fmt_us(fan.client_cpu_s / max(fan.inserts, 1) * 1e6)} per insert) over {fan.seconds:.1f} s wall; "
        f"baseline command: `{fan.zadd_command}` (50 connections). Growth: above {len(pool):,} followers the "
        "writes go round-robin over the same full feeds (see feeds_redis); follower reads from Cassandra are "
        "not included in those rows.")
    section.summary.append(f"fan-out {fmt_rate(fan.per_s)} vs ZADD {fmt_rate(fan.zadd_per_s)} "
                           f"({fmt_ratio(share)}, goal ≥ {feeds_redis.FANOUT_GOAL}); memory "
                           f"{mem.packed_per_entry:.1f} B/entry vs zset {mem.zset_per_entry:.1f} B")


# --- 4: worker and Kafka --------------------------------------------------------------------------------------
def pipeline_part(env: BenchEnv, worker: feeds_pipeline.BenchWorker, v: Volumes,
                  section: Section) -> tuple[Graph, dict[int, list[str]]]:
    rng = random.Random(5)
    graph = feeds_pipeline.power_law_graph(v.users, v.follows_per_user, 1.0)
    graph.celebrities = [new_id() for _ in range(v.celebrities)]
    for celebrity in graph.celebrities:
        for fan in rng.sample(graph.users, v.threshold + 1):
            graph.following[fan].append(celebrity)
    regulars = rng.sample(graph.users, 10)
    groups = sorted({0, min(10, v.celebrities), v.celebrities})
    celebrity_readers: dict[int, list[str]] = {}
    for k in groups:
        readers = [new_id() for _ in range(v.readers_per_group)]
        celebrity_readers[k] = readers
        for reader in readers:
            graph.following[reader] = regulars + graph.celebrities[:k]
    everyone = graph.users + graph.celebrities + [r for rs in celebrity_readers.values() for r in rs]
    setup_s = feeds_pipeline.load_graph(worker, graph, everyone, timeout_s=900)
    counts = graph.follower_counts()

    # maximum ingest: every graph user's posts (and the celebrities') in one burst
    authors = [u for u in graph.users for _ in range(v.posts_per_user)] + graph.celebrities * 2
    rng.shuffle(authors)
    window = CpuWindow({f"worker {i}": pid for i, pid in enumerate(worker.pids())})
    burst = feeds_pipeline.posts_by(authors)
    started = time.monotonic()
    cpu0 = worker.cpu_s()
    feeds_pipeline.await_applied(worker.settings, feeds_pipeline.publish_all(worker.settings, burst), 1200,
                                 "ingest burst")
    burst_s = time.monotonic() - started
    max_rate = len(burst) / burst_s
    burst_cpu = (worker.cpu_s() - cpu0) / len(burst)
    window.close()
    mean_fanout = sum(counts.get(a, 0) for a in authors if counts.get(a, 0) <= v.threshold) / len(authors)

    rate = max(1.0, max_rate / 2)
    probes, steady_cpu = feeds_pipeline.steady_latency(worker, graph, rate, v.latency_s, rng)
    done = [p for p in probes if p.applied and p.recv]
    applied = Distribution.of([(p.applied - p.send) * 1000 for p in done])
    base = Distribution.of([(p.recv - p.send) * 1000 for p in done])
    ok = applied.p99 < LATENCY_GOAL_MS and len(done) == len(probes)
    section.rows.append([f"post → in every follower's feed, p50 / p99 at {rate:.0f} posts/s (half the max)",
                         f"{fmt_ms(applied.p50)} / {fmt_ms(applied.p99)}",
                         f"raw Kafka send → consumer {fmt_ms(base.p50)} / {fmt_ms(base.p99)}",
                         fmt_ratio(ratio(applied.p99, base.p99)),
                         f"p99 < {LATENCY_GOAL_MS:g} ms — {verdict(ok)}"])
    section.rows.append(["maximum sustainable ingest (burst of posts until all applied)", fmt_rate(max_rate),
                         "–", "–", f"worker {fmt_us(burst_cpu * 1e6)} CPU per post"])
    top = sorted(counts.values(), reverse=True)
    section.notes.append(
        f"graph: {len(graph.users):,} users following {v.follows_per_user} each by Zipf(1.0) popularity (most "
        f"followed: {top[:5]} followers; median {top[len(top) // 2]}), plus {len(graph.celebrities)} celebrity "
        f"accounts with {v.threshold + 1} followers each; celebrity threshold {v.threshold} (low mark "
        f"{worker.settings.celebrity_low_mark}); set-up (follows + profiles through the worker, feeds built) "
        f"{setup_s:.0f} s.")
    section.notes.append(
        f"ingest burst: {len(burst):,} posts in {burst_s:.1f} s, mean {mean_fanout:.1f} followers pushed per "
        f"post; steady run: {len(probes)} posts, {len(done)} applied and seen by the tail"
        + (f", **{len(probes) - len(done)} missing**" if len(done) < len(probes) else "")
        + f"; worker {fmt_us(steady_cpu * 1e6)} CPU per post at the steady rate. " + window.describe())
    section.summary.append(f"post → feeds p50 {fmt_ms(applied.p50)} p99 {fmt_ms(applied.p99)} at {rate:.0f}/s "
                           f"(max {fmt_rate(max_rate)}); raw Kafka p99 {fmt_ms(base.p99)}")
    return graph, celebrity_readers


# --- 3 and 5: the API -----------------------------------------------------------------------------------------
def full_readers(env: BenchEnv, users: list[str], limit: int) -> list[str]:
    async def find() -> list[str]:
        client = async_client(env.settings)
        cache = FeedCache(client, env.settings.feed_cap, env.settings.feed_ttl_s)
        try:
            found = []
            for user in users:
                page = await cache.page(user, None, limit)
                if page is not None and len(page[0]) >= limit:
                    found.append(user)
            return found
        finally:
            await client.aclose()

    return asyncio.run(find())


#: a placeholder as the photos processor derives one (the blurhash format's own example)
PLACEHOLDER = "LEHV6nWB2yk8pyo0adR*.7kCMdnj"


def derive_photos(settings: Settings) -> int:
    """What the photos processor records once a real upload completes (a blurhash and the sizes rendered ahead,
    through its own sink, :class:`sinks.photo_derivatives.PhotoDerivatives`), for every photo of the run's posts:
    the benchmark's posts name image ids nobody uploaded, and a feed page of never-derived photos would ask
    Cassandra for their placeholders again every ``ABSENT_MEMO_S`` — the case of a post seconds old, not of a
    feed. Returns the photos recorded."""
    cluster, session = connect(settings)

    async def record(images: list[str]) -> None:
        derivatives = PhotoDerivatives(session)
        for start in range(0, len(images), 500):
            await asyncio.gather(*(derivatives.record(image, PLACEHOLDER, {320, 1080}, 0)
                                   for image in images[start:start + 500]))

    try:
        images = [image for row in session.execute("SELECT image_ids FROM posts") for image in row.image_ids or ()]
        asyncio.run(record(images))
        return len(images)
    finally:
        cluster.shutdown()


def api_part(env: BenchEnv, worker: feeds_pipeline.BenchWorker, graph: Graph,
             celebrity_readers: dict[int, list[str]], v: Volumes, section: Section) -> None:
    readers = full_readers(env, graph.users, FEED_LIMIT)[:200]
    if not readers:
        raise BenchError(f"no user's feed holds {FEED_LIMIT} posts")
    derived = derive_photos(worker.settings)
    processes = os.cpu_count() or 1
    server_env = feeds_api.api_env(env, worker.settings, worker.env)
    path = f"/api/v1/feed?limit={FEED_LIMIT}"
    targets = feeds_api.targets_file(env, worker.settings, "feed", readers, path)
    api = feeds_api.Servers(env, "api", processes, server_env, "/readyz")
    try:
        page = feeds_api.warm(api.port, worker.settings, readers, FEED_LIMIT)
        for group in celebrity_readers.values():
            feeds_api.warm(api.port, worker.settings, group, FEED_LIMIT)
        saturated = api.drive(targets, "closed", v.api_s)
        half = saturated.rate / 2
        at_half = api.drive(targets, "open", v.api_s, rate=half)
        by_celebrities = {k: api.drive(feeds_api.targets_file(env, worker.settings, f"celeb{k}", group, path),
                                       "open", v.api_s, rate=min(50.0, half))
                          for k, group in celebrity_readers.items()}
    finally:
        api.stop()
    bare = api_reads.bare(env, worker.settings, "feeds", page, processes, server_env, v.api_s, half)
    bare_saturated, bare_half = bare.saturated, bare.at_half

    share = ratio(saturated.rate, bare_saturated.rate)
    section.rows.append([f"GET /feed ({FEED_LIMIT} hydrated items) saturation, {processes} processes",
                         fmt_rate(saturated.rate),
                         f"bare Starlette JSON, same serving: {fmt_rate(bare_saturated.rate)}",
                         fmt_ratio(share), f"≥ {API_SATURATION_GOAL} — {verdict(share >= API_SATURATION_GOAL)}"])
    section.rows.append([f"GET /feed p99 at half that rate ({half:.0f}/s)",
                         f"{fmt_ms(at_half.latency.p99)} ({api_reads.busy(at_half)})",
                         f"bare at the same rate: {fmt_ms(bare_half.latency.p99)} ({api_reads.busy(bare_half)})",
                         fmt_ratio(ratio(at_half.latency.p99, bare_half.latency.p99)),
                         f"< {API_P99_GOAL_MS:g} ms — {verdict(at_half.latency.p99 < API_P99_GOAL_MS)}"])
    if bare.at_own_half is not None:
        read = api_reads.ReadLoad(saturated, at_half, half)
        section.rows.append(api_reads.own_half_row("GET /feed", read, bare, "bare", API_P99_GOAL_MS))
    section.rows.append(["API CPU per request (at saturation)", fmt_us(saturated.cpu_us),
                         f"bare: {fmt_us(bare_saturated.cpu_us)}", fmt_ratio(ratio(saturated.cpu_us,
                                                                                    bare_saturated.cpu_us)), "–"])
    zero = by_celebrities.get(0)
    for k, load in by_celebrities.items():
        section.rows.append([f"GET /feed following {k} celebrities: p50 / p99, API CPU per request",
                             f"{fmt_ms(load.latency.p50)} / {fmt_ms(load.latency.p99)}, {fmt_us(load.cpu_us)}",
                             f"0 celebrities: {fmt_ms(zero.latency.p50)} / {fmt_ms(zero.latency.p99)}, "
                             f"{fmt_us(zero.cpu_us)}" if zero else "–",
                             fmt_ratio(ratio(load.cpu_us, zero.cpu_us)) if zero else "–", "–"])
    for name, load in (("feed saturation", saturated), ("feed at half", at_half), ("bare saturation", bare_saturated),
                       ("bare at half", bare_half), *((("bare at its own half", bare.at_own_half),)
                                                      if bare.at_own_half else ()),
                       *((f"{k} celebrities", x) for k, x in by_celebrities.items())):
        section.notes.append(f"{name}: {load.latency.count:,} answers {load.statuses}, errors "
                             f"{load.errors or 'none'}, achieved {fmt_rate(load.rate)}, p50 {fmt_ms(load.latency.p50)}"
                             f" p99 {fmt_ms(load.latency.p99)}; generator CPU {load.generator_cpu_s:.1f} s.")
    section.notes.append(
        f"{len(readers)} readers with ≥ {FEED_LIMIT} posts in their Redis feed; saturation: "
        f"{feeds_api.SATURATION_CONNECTIONS} connections back to back for {v.api_s:g} s; the generator runs on the "
        "same 2 cores (its CPU is listed), so the bare endpoint's ceiling is understated most. Celebrity groups: "
        f"{v.readers_per_group} readers each, following the same 10 push authors plus k pull authors, "
        f"{min(50.0, half):.0f} requests/s. Before the reads, the {derived:,} photos of the run's posts were given "
        "what the photos processor derives after a real upload (a blurhash, the sizes rendered ahead: "
        "`derive_photos`), so pages show placeholders as they would.")
    section.summary.append(f"GET /feed saturates at {fmt_rate(saturated.rate)} vs bare {fmt_rate(bare_saturated.rate)} "
                           f"({fmt_ratio(share)}); p99 {fmt_ms(at_half.latency.p99)} at {half:.0f}/s; "
                           f"{fmt_us(saturated.cpu_us)} API CPU per request")
