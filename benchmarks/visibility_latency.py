"""Benchmark 4: post → tag count visible in Redis, through a real worker, vs raw Kafka produce → consume.

A real `photostream worker` subprocess (the run's own app id, keyspace and Redis DB; groups seeded at the
log end) processes posts published one at a time at a steady pace, each with a fresh tag. For each post:
t_send before ``Publisher.publish``, t_ack when the broker acknowledged, t_visible when the tag's
``post_count`` first appears in Redis (polled every millisecond), and t_recv when a bare consumer tailing
``post-created`` (the batch engine's consumer config, ``poll`` per record) received the same record — the
baseline: what Kafka alone costs from send to a consumer.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import redis
from confluent_kafka import Consumer, Message

from benchmarks.cpu import CpuWindow
from benchmarks.env import AppProcess, BenchEnv, BenchError
from benchmarks.kafka_tools import Tail, assignment, end_offsets, groups_of, lag, seed_groups
from benchmarks.report import Section, from_docstring
from benchmarks.stats import Distribution, fmt_ms, fmt_ratio, ratio
from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher
from sinks import keys
from streams.engine.consumer import consumer_config
from streams.hashtags.counter import HashtagCounter
from streams.hashtags.extractor import HashtagExtractor
from streams.workers import ready_urls_started, web_ports_started

POLL_S = 0.001
VISIBLE_TIMEOUT_S = 30.0


@dataclass
class Probe:
    """One post's timestamps (perf_counter seconds)."""

    tag: str
    event: events.Event
    send: float = 0.0
    ack: float = 0.0
    recv: float = 0.0
    visible: float = 0.0


@dataclass
class Worker:
    """The worker started for this benchmark, and its settings (benchmark 5 reuses both)."""

    settings: Settings
    env: dict[str, str]
    process: AppProcess
    hot_tags: dict[str, int] = field(default_factory=dict)


def start_worker(bench: BenchEnv) -> Worker:
    settings = bench.with_app_id("worker")
    groups = groups_of(settings.app_id)
    bench.groups |= set(groups)
    seed_groups(settings, groups, end_offsets(settings, {t for ts in groups.values() for t in ts}))
    env = bench.subprocess_env(settings)
    process = bench.start("worker", ["worker", "--loglevel", "warning"], env,
                          ready_urls_started(env))
    return Worker(settings, env, process)


def batch_wait_ms(settings: Settings) -> float | None:
    """How long a bare ``consume(BATCH_MAX_EVENTS, 0.2)`` takes when only one record is there (why the batch
    engine's idle loop polls for its first record instead).

    Re-reads one existing record (produces nothing) a few times; the fastest call that returned it counts.
    """
    ends = end_offsets(settings, ["post-created"])
    tp = next((tp for tp, end in ends.items() if end > 0), None)
    if tp is None:
        return None
    consumer = Consumer(consumer_config(settings, f"{settings.app_id}.probe"))
    position = assignment(settings, {tp: ends[tp] - 1})[0]
    timings = []
    try:
        consumer.assign([position])
        for _ in range(6):
            started = time.perf_counter()
            if consumer.consume(settings.batch_max_events, 0.2):
                timings.append((time.perf_counter() - started) * 1000)
            consumer.seek(position)
    finally:
        consumer.close()
    return min(timings) if timings else None


def worker_counters(worker: Worker) -> dict[str, float]:
    """The worker's own Prometheus counters, summed over its processes: events per processor, batches and their
    seconds (a stall shows)."""
    found: dict[str, float] = {}
    for port in web_ports_started(worker.env):
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            continue
        for line in text.splitlines():
            if line.startswith(("photostream_events_processed_total", "photostream_batch_seconds_sum",
                                "photostream_batch_seconds_count")):
                name, _, value = line.rpartition(" ")
                key = name.replace("photostream_", "").replace('processor="', "").replace('topic="', "")
                key = key.replace('"', "")
                found[key] = found.get(key, 0.0) + float(value)
    return found


def flush_intervals(settings: Settings) -> dict[str, float]:
    """Each stage's accumulation interval as the product configures it (0 where there is none)."""
    counter = HashtagCounter(settings, *(cast(Any, None),) * 5)  # the constructor only keeps its stores
    return {"extractor": float(getattr(HashtagExtractor, "flush_interval_s", 0.0)),
            "counter": float(getattr(counter, "flush_interval_s", 0.0))}


def _probe(run_id: str, name: str) -> Probe:
    tag = f"b{run_id}{name}"
    author = new_id()  # one author per post: the record key identifies the post for the tail
    return Probe(tag, events.post_created(author_id=author, caption=f"latency probe #{tag}", image_ids=[new_id()]))


def watch(client: redis.Redis[bytes], acked: queue.SimpleQueue[Probe], expected: int, deadline: float) -> None:
    """Poll Redis for every acknowledged, not yet visible probe until all are visible or time is up."""
    pending: list[Probe] = []
    seen = 0
    while seen < expected and time.perf_counter() < deadline:
        while not acked.empty():
            pending.append(acked.get_nowait())
        if pending:
            with client.pipeline(transaction=False) as pipe:
                for probe in pending:
                    pipe.hget(keys.hashtag(probe.tag), "post_count")
                answers = pipe.execute()
            now = time.perf_counter()
            for probe, answer in zip(pending, answers, strict=True):
                if answer is not None:
                    probe.visible = now
                    seen += 1
            pending = [p for p in pending if not p.visible]
        time.sleep(POLL_S)


def publish_paced(publisher: Publisher, probes: list[Probe], rate: float, acked: queue.SimpleQueue[Probe]) -> None:
    """Publish one probe every 1/rate s, each waiting for its acknowledgement."""
    start = time.perf_counter()
    for i, probe in enumerate(probes):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        probe.send = time.perf_counter()
        publisher.publish(probe.event)
        probe.ack = time.perf_counter()
        acked.put(probe)


def measure(worker: Worker, publisher: Publisher, probes: list[Probe], rate: float) -> None:
    client = redis.Redis.from_url(worker.settings.redis_url)
    by_key = {p.event.key.encode(): p for p in probes}

    def note(message: Message, arrived: float) -> None:
        probe = by_key.get(message.key() or b"")
        if probe is not None and not probe.recv:
            probe.recv = arrived

    tail = Tail(worker.settings, "post-created", "bench-tail", note)
    tail.start()
    time.sleep(1.0)  # let the tail connect and start fetching, so its first receipt is not a connection set-up
    acked: queue.SimpleQueue[Probe] = queue.SimpleQueue()
    sender = threading.Thread(target=publish_paced, args=(publisher, probes, rate, acked), daemon=True)
    try:
        sender.start()
        watch(client, acked, len(probes), time.perf_counter() + len(probes) / rate + VISIBLE_TIMEOUT_S)
        sender.join(timeout=VISIBLE_TIMEOUT_S)
        time.sleep(0.2)  # the tail sees records long before Redis does; let it note the last ones
    finally:
        tail.stop()
        client.close()


def run(bench: BenchEnv, worker: Worker, count: int, rate: float) -> Section:
    section = Section(
        "4. Post → tag count visible (p50/p99)",
        from_docstring(__doc__),
        ["percentile", "raw Kafka send → consumer (baseline)", "pipeline send → visible", "ratio",
         "pipeline ack → visible", "ratio"],
    )
    window = CpuWindow({"worker": worker.process.pid})
    with Publisher(worker.settings) as publisher:
        warm = [_probe(bench.run_id, f"w{i}") for i in range(5)]
        measure(worker, publisher, warm, 5)  # group joins, connections, prepared statements
        if not all(p.visible for p in warm):
            raise BenchError(f"the worker did not make warm-up posts visible:\n{worker.process.tail()}")
        probes = [_probe(bench.run_id, f"v{i}") for i in range(count)]
        measure(worker, publisher, probes, rate)
    window.close()
    counters = worker_counters(worker)
    counted = counters.get("events_processed_total{hashtag-counter,post-hashtag}", math.nan)
    wait = batch_wait_ms(worker.settings)
    intervals = flush_intervals(worker.settings)
    done = [p for p in probes if p.visible and p.recv]
    base = Distribution.of([(p.recv - p.send) * 1000 for p in done])
    pipe = Distribution.of([(p.visible - p.send) * 1000 for p in done])
    from_ack = Distribution.of([(p.visible - p.ack) * 1000 for p in done])
    for name in ("p50", "p90", "p99", "max"):
        b, s, a = getattr(base, name), getattr(pipe, name), getattr(from_ack, name)
        section.rows.append([name, fmt_ms(b), fmt_ms(s), fmt_ratio(ratio(s, b)), fmt_ms(a), fmt_ratio(ratio(a, b))])
    missing = len(probes) - len(done)
    acks = Distribution.of([(p.ack - p.send) * 1000 for p in probes if p.ack])
    section.notes += [
        f"{len(probes)} posts at {rate:g}/s, each with a fresh tag; {len(done)} seen by both the tail and Redis"
        + (f", **{missing} not within {VISIBLE_TIMEOUT_S:.0f} s**" if missing else "") + ".",
        f"publish acknowledgement (send → ack) p50 {fmt_ms(acks.p50)}, p99 {fmt_ms(acks.p99)}; Redis polled "
        f"every {POLL_S * 1000:g} ms (resolution).",
        "a post passes two batch stages, each applying what it accumulated once its flush interval elapsed "
        f"(extractor post-created → post-hashtag: {intervals['extractor']:g} s; counter post-hashtag → Cassandra "
        f"+ Redis: {intervals['counter']:g} s); an idle loop waits for its first record with `poll` (a bare "
        f"`consume(n, 0.2 s)` with one record available returned after {fmt_ms(wait) if wait is not None else 'n/a'}"
        " in this run: librdkafka waits for n records or the timeout).",
        f"foreign records: the worker's counter applied {counted - len(probes) - len(warm):,.0f} post-hashtag "
        "events besides ours (other producers on the shared topic, e.g. another worker's extractor), each one "
        "ahead of ours in the queue.",
        "worker counters after the run (warm-up included): "
        + ", ".join(f"{k} {v:.4g}" for k, v in sorted(counters.items())),
        window.describe(),
    ]
    section.summary.append(f"send→visible p50 {fmt_ms(pipe.p50)} p99 {fmt_ms(pipe.p99)} vs raw Kafka p50 "
                           f"{fmt_ms(base.p50)} p99 {fmt_ms(base.p99)} "
                           f"(p99 ratio {fmt_ratio(ratio(pipe.p99, base.p99))})")
    return section


def fill_hot_tags(bench: BenchEnv, worker: Worker, tags: int, posts: int) -> dict[str, int]:
    """Posts carrying a few hot tags, through the worker, until Redis and the posts view have them all."""
    names = [f"b{bench.run_id}hot{i}" for i in range(tags)]
    counts = dict.fromkeys(names, 0)
    with Publisher(worker.settings) as publisher:
        for i in range(posts):
            chosen = [names[i % tags], names[(i * 7 + 3) % tags]]
            for tag in set(chosen):
                counts[tag] += 1
            publisher.submit(events.post_created(author_id=new_id(), caption="hot " + " ".join(f"#{t}" for t in chosen),
                                                 image_ids=[new_id()]))
    client = redis.Redis.from_url(worker.settings.redis_url, decode_responses=True)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            seen = {t: client.hget(keys.hashtag(t), "post_count") for t in names}
            behind = lag(worker.settings, f"{worker.settings.app_id}.posts", ["post-created"])  # the posts projector
            if behind == 0 and all(seen[t] is not None and int(seen[t] or 0) == counts[t] for t in names):
                worker.hot_tags = counts
                return counts
            time.sleep(0.2)
    finally:
        client.close()
    raise BenchError(f"hot tags not counted in 60 s (expected {counts})")
