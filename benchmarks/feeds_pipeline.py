"""Home feed through the real worker and Kafka: a power-law follow graph, its maximum ingest, and post →
applied-in-every-follower's-feed latency at half of it.

A real ``photostream worker`` (the run's keyspace, Redis DB and consumer groups, seeded at the log end; a
celebrity threshold scaled to the graph, so its most followed accounts are pull-tier as in production) is
fed, through the producer SDK, follows drawn by a Zipf law over followees (a few accounts have most of the
followers), a profile for every user, and posts by uniformly drawn authors. Every user's feed is built
(marked in Redis, as a first read would) before posts arrive, so every follower of a push author is written.
"Applied" is the feeds processor's applied-offset mark (written after the batch's fan-out, see
``streams/feeds.py``) reaching the post's offset: the moment the post is in every follower's feed (or its
author's pull set). Maximum ingest: a burst of posts submitted at once, divided by the time until all are
applied. Latency is then measured at half that rate; baseline: a bare consumer tailing ``post-created``
(send → received), in the same run.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import random
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field

import httpx
import redis
from confluent_kafka import Message

from benchmarks.cpu import process_cpu_s
from benchmarks.env import AppProcess, BenchEnv, BenchError
from benchmarks.kafka_tools import Tail, end_offsets, groups_of, seed_groups
from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher, PublishResult
from sinks import keys
from sinks.feeds import FeedCache
from sinks.redis_client import async_client
from streams.workers import ready_urls_started

APPLIERS = {"follow-changed": ("feeds",), "post-created": ("feeds", "posts"), "profile-updated": ("profiles",)}
LATENCY_GOAL_MS = 1000.0
POLL_S = 0.002


@dataclass
class Graph:
    users: list[str]
    #: follower -> followees
    following: dict[str, list[str]]
    celebrities: list[str] = field(default_factory=list)

    def follower_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(self.users, 0)
        for followees in self.following.values():
            for f in followees:
                counts[f] = counts.get(f, 0) + 1
        return counts


@dataclass
class BenchWorker:
    settings: Settings
    env: dict[str, str]
    process: AppProcess

    def pids(self) -> list[int]:
        """The supervisor and its worker children (``worker`` runs one process per core)."""
        pids = [self.process.pid]
        try:
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except OSError:
            pass
        return pids

    def cpu_s(self) -> float:
        return sum(process_cpu_s(p) or 0.0 for p in self.pids())


def power_law_graph(users: int, follows_per_user: int, zipf_s: float, seed: int = 11) -> Graph:
    rng = random.Random(seed)
    ids = [new_id() for _ in range(users)]
    weights = list(itertools.accumulate(1 / rank ** zipf_s for rank in range(1, users + 1)))
    following: dict[str, list[str]] = {}
    for user in ids:
        chosen: set[str] = set()
        for _ in range(follows_per_user * 3):
            if len(chosen) >= follows_per_user:
                break
            followee = ids[rng.choices(range(users), cum_weights=weights)[0]]
            if followee != user:
                chosen.add(followee)
        following[user] = sorted(chosen)
    return Graph(ids, following)


def start_worker(bench: BenchEnv, threshold: int) -> BenchWorker:
    settings = bench.with_app_id("feeds").model_copy(update={
        "celebrity_threshold": threshold, "celebrity_low_mark": max(1, threshold * 4 // 5)})
    groups = groups_of(settings.app_id)
    bench.groups |= set(groups) | {f"{settings.app_id}.tail"}
    seed_groups(settings, groups, end_offsets(settings, {t for ts in groups.values() for t in ts}))
    env = bench.subprocess_env(settings) | {
        "PHOTOSTREAM_CELEBRITY_THRESHOLD": str(settings.celebrity_threshold),
        "PHOTOSTREAM_CELEBRITY_LOW_MARK": str(settings.celebrity_low_mark),
    }
    process = bench.start("feeds-worker", ["worker", "--loglevel", "warning"], env,
                          ready_urls_started(env))
    return BenchWorker(settings, env, process)


def applied_marks(client: redis.Redis[bytes], consumer: str, topic: str) -> dict[int, int]:
    return {int(p): int(o) for p, o in client.hgetall(keys.applied_offsets(consumer, topic)).items()}


def await_applied(settings: Settings, results: list[PublishResult], timeout_s: float, what: str) -> float:
    """Wait until every applier of each record's topic marked its offset; return the seconds it took."""
    highest: dict[tuple[str, int], int] = {}
    for r in results:
        highest[(r.topic, r.partition)] = max(highest.get((r.topic, r.partition), -1), r.offset)
    client: redis.Redis[bytes] = redis.Redis.from_url(settings.redis_url)
    started = time.monotonic()
    try:
        while True:
            behind = [f"{c}:{t}/{p}@{o}" for (t, p), o in highest.items() for c in APPLIERS[t]
                      if applied_marks(client, c, t).get(p, -1) < o]
            if not behind:
                return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise BenchError(f"{what}: not applied in {timeout_s:g} s: {behind[:5]}")
            time.sleep(0.05)
    finally:
        client.close()


def publish_all(settings: Settings, batch: list[events.Event]) -> list[PublishResult]:
    with Publisher(settings) as publisher:
        futures = [publisher.submit(e) for e in batch]
        publisher.flush(120)
        return [f.result(timeout=60) for f in futures]


def load_graph(worker: BenchWorker, graph: Graph, users: list[str], timeout_s: float) -> float:
    """Follows, and profiles of ``users``, through the worker, then their feeds marked built; returns the
    seconds it took."""
    follows = [events.follow_changed(follower_id=u, followee_id=f, action="follow")
               for u, fs in graph.following.items() for f in fs]
    profiles = [events.profile_updated(user_id=u, username=f"bench{i}", display_name=f"Bench {i}",
                                       is_private=False, tags_followed_only=False, tags_manual_approval=False)
                for i, u in enumerate(users)]
    started = time.monotonic()
    await_applied(worker.settings, publish_all(worker.settings, follows + profiles), timeout_s, "graph")
    asyncio.run(build_feeds(worker.settings, users))
    return time.monotonic() - started


async def build_feeds(settings: Settings, users: list[str]) -> None:
    client = async_client(settings)
    cache = FeedCache(client, settings.feed_cap, settings.feed_ttl_s)
    try:
        for start in range(0, len(users), 200):
            await asyncio.gather(*(cache.build(u, []) for u in users[start:start + 200]))
    finally:
        await client.aclose()


def posts_by(authors: list[str]) -> list[events.Event]:
    return [events.post_created(author_id=a, caption="a photo", image_ids=[new_id()]) for a in authors]


def max_ingest(worker: BenchWorker, graph: Graph, count: int, rng: random.Random) -> tuple[float, float]:
    """(posts/s, worker CPU-s per post) for a burst of ``count`` posts by uniformly drawn authors."""
    burst = posts_by([rng.choice(graph.users) for _ in range(count)])
    cpu0, started = worker.cpu_s(), time.monotonic()
    results = publish_all(worker.settings, burst)
    await_applied(worker.settings, results, 600, "ingest burst")
    seconds = time.monotonic() - started
    return count / seconds, (worker.cpu_s() - cpu0) / count


@dataclass
class Probe:
    send: float = 0.0
    ack: float = 0.0
    recv: float = 0.0
    applied: float = 0.0
    partition: int = -1
    offset: int = -1


def steady_latency(worker: BenchWorker, graph: Graph, rate: float, duration_s: float,
                   rng: random.Random) -> tuple[list[Probe], float]:
    """Posts at ``rate``/s for ``duration_s``; each probe's send, ack, tail receipt and applied instants.
    Returns the probes and the worker's CPU-s per post over the run."""
    count = max(10, int(rate * duration_s))
    batch = posts_by([rng.choice(graph.users) for _ in range(count)])
    probes = [Probe() for _ in batch]
    seen: dict[tuple[int, int], float] = {}

    def note(message: Message, arrived: float) -> None:
        seen[(message.partition() or 0, message.offset() or 0)] = arrived

    tail = Tail(worker.settings, "post-created", "feeds-tail", note)
    tail.start()
    time.sleep(1.0)  # the tail's first fetch is a connection set-up, not Kafka latency
    client: redis.Redis[bytes] = redis.Redis.from_url(worker.settings.redis_url)
    cpu0 = worker.cpu_s()

    def acked(probe: Probe, future: Future[PublishResult]) -> None:
        result = future.result()
        probe.ack, probe.partition, probe.offset = time.perf_counter(), result.partition, result.offset

    publisher = Publisher(worker.settings)
    # a new producer's first sends wait for its connection and idempotence id (~0.5–1.5 s, measured): set-up, not
    # the steady latency measured here, so one post by an author nobody follows goes first, outside the clock
    publisher.publish(posts_by([new_id()])[0])
    try:
        def send() -> None:
            start = time.perf_counter()
            for i, (event, probe) in enumerate(zip(batch, probes, strict=True)):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)  # pacing the steady rate
                probe.send = time.perf_counter()
                publisher.submit(event).add_done_callback(functools.partial(acked, probe))

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        deadline = time.perf_counter() + duration_s + 60
        while time.perf_counter() < deadline:
            marks = applied_marks(client, "feeds", "post-created")
            now = time.perf_counter()
            pending = 0
            for probe in probes:
                if probe.applied:
                    continue
                if probe.offset >= 0 and marks.get(probe.partition, -1) >= probe.offset:
                    probe.applied = now
                else:
                    pending += 1
            if not pending and not sender.is_alive():
                break
            time.sleep(POLL_S)
        sender.join(timeout=10)
        publisher.flush(30)
    finally:
        publisher.close()
        tail.stop()
        client.close()
    cpu = (worker.cpu_s() - cpu0) / count
    for probe in probes:
        probe.recv = seen.get((probe.partition, probe.offset), 0.0)
    return probes, cpu


def worker_ready(worker: BenchWorker) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{worker.env['PHOTOSTREAM_WORKER_WEB_PORT']}/ready",
                         timeout=5).status_code == 200
    except httpx.HTTPError:
        return False
