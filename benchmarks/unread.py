"""Benchmark 7: the newly-unread badge — event → Redis applied and → WebSocket push latency, sockets held,
``GET /users/{id}/status`` saturation and p99, and processor throughput.

Latency: the ``unread`` processor runs alone in a process of its own (a ``BatchLoop``, its own consumer group from
the log end, as in a worker); events are published through the SDK at a steady rate, each adding a new sender to one
of a pool of users, so each changes a set. "Applied" is the moment the processor's Redis script (write + pub/sub
ping in one script) wrote the badge, on Redis's clock: the ping on the user's status channel (namespaced by the
run's app id) carries it, and a pattern subscriber collects the pings; latency = that moment minus the event's
``occurred_at``. The moment the subscriber read each ping is reported beside it (it adds pub/sub and the harness's
own event loop, which also sends the events). Baseline, same run and same events: a raw confluent-kafka consumer on
the topic (send → consumed). Push: one API process holds N WebSockets (distinct users; RSS before and after, per
connection), then unsent messages to connected users at 200/s, timed from ``occurred_at`` to the status arriving on
the socket; the API process's own collector pauses in each phase, from its ``photostream_gc_pause_seconds`` scraped
before, between and after. Status reads (`benchmarks/api_reads.py`): one API process per core on one port
(`benchmarks/feeds_serve.py`), each reader (200 of the latency run's users, every one with unread senders) reading
its own status with its own minted token; closed loop (64 connections) for the saturation rate, then open loop at
half of it for the p99, 8 s each (3 s with `--quick`). Baseline: a bare Starlette endpoint serving a captured status
body, as many processes served the same way and driven the same way (its open loop at the API's half rate).
Throughput: as benchmark 3 (`benchmarks/pipeline_throughput.py`): records produced once (3 unsent : 1 read, uniform
users), the raw consume + decode loop over exactly those offsets vs the processor driven by the real loop in this
process until its group committed them."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import httpx
from confluent_kafka import Consumer
from prometheus_client.parser import text_string_to_metric_families

from benchmarks import api_reads, feeds_api
from benchmarks.cpu import stack_pids
from benchmarks.env import BenchEnv, BenchError
from benchmarks.kafka_tools import assignment, end_offsets, seed_groups
from benchmarks.pipeline_throughput import GOAL, Clock, _rows, drive, produce, raw_consume
from benchmarks.report import Section, from_docstring
from benchmarks.stats import Distribution, fmt_ms, fmt_rate, fmt_ratio, fmt_us, ratio, verdict
from photostream.contracts.codec import EventCodec
from photostream.gc_tuning import settle_after_startup
from photostream.settings import PROJECT_ROOT, Settings, get_settings
from producers import events
from producers.ids import new_id, now_ms
from producers.publisher import Publisher
from sinks import keys
from sinks.redis_client import async_client, sync_client
from sinks.unread import UnreadPairs, UnreadSets, applied_at
from streams.engine.consumer import consumer_config
from streams.engine.loop import BatchLoop
from streams.resources import Resources
from streams.unread import TOPICS, UnreadProcessor

TITLE = "7. Unread badge: event → Redis applied, push, GET status, and processor throughput"
LATENCY_GOAL_MS = 100.0
PUSH_GOAL_MS = 200.0
STATUS_P99_GOAL_MS = 5.0
#: users whose status the read benchmark rotates over
STATUS_READERS = 200
STATUS_PATH = "/api/v1/users/{reader}/status"
TOPIC = "ON_MSG_UNSENT"
#: users the latency probes cycle through: each is touched about once a second at 5k/s
PROBE_USERS = 5_000


def _processor(resources: Resources) -> UnreadProcessor:
    return UnreadProcessor(UnreadPairs(resources.session), UnreadSets(resources.redis, resources.settings.app_id),
                           resources.redis, resources.session)


def throughput_records(count: int, users: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    pool = [new_id() for _ in range(users)]
    unsent, reads = [], []
    for i in range(count):
        dest, src = random.sample(pool, 2)
        record = {"event_id": new_id(), "occurred_at": now_ms(), "src": src, "dest": dest, "msg_id": new_id()}
        if i % 4 == 3:
            reads.append({"event_id": new_id(), "occurred_at": now_ms(), "user_id": dest, "sender_id": src,
                          "read_up_to_msg_id": new_id()})
        else:
            unsent.append(record)
    return unsent, reads


class RawTimer:
    """The baseline: a raw consumer at the topic's end timing send → consume for the benchmark's events."""

    def __init__(self, settings: Settings, ours: set[str]) -> None:
        self.samples: list[float] = []
        self._ours, self._stop = ours, threading.Event()
        self._consumer = Consumer(consumer_config(settings, f"{settings.app_id}.raw-latency"))
        ends = end_offsets(settings, [TOPIC])
        self._consumer.assign(assignment(settings, ends))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Waits for the next record, then takes whatever arrived with it (as the batch loop does under light
        traffic): ``consume(n, t)`` alone would hold every record until ``n`` arrived or ``t`` passed."""
        codec = EventCodec()
        while not self._stop.is_set():
            head = self._consumer.poll(0.1)
            if head is None:
                continue
            for message in [head, *self._consumer.consume(1000, 0)]:
                if message.error():
                    continue
                received = time.time() * 1000
                value = codec.decode(TOPIC, message.value() or b"")
                if value["event_id"] in self._ours:
                    self.samples.append(received - value["occurred_at"])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()


class ProcessorProcess:
    """The ``unread`` processor alone in a process of its own (as in a worker), its group at the log end; ready
    once a warm-up event was applied."""

    def __init__(self, env: BenchEnv, settings: Settings) -> None:
        seed_groups(settings, {f"{settings.app_id}.unread": TOPICS}, end_offsets(settings, list(TOPICS)))
        env.groups.add(f"{settings.app_id}.unread")
        self._log = open(env.tmp / f"unread-{settings.app_id}.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "benchmarks.unread"], env=env.subprocess_env(settings),
                                     stdout=self._log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
        redis = sync_client(settings)
        with Publisher(settings) as publisher:
            user, sender = new_id(), new_id()
            publisher.publish(events.message_unsent(src=sender, dest=user, msg_id=new_id()))
        deadline = time.monotonic() + 120
        while not redis.sismember(keys.unread_senders(user), sender):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise BenchError(f"the unread processor process did not apply a warm-up event (log: {self._log.name})")
            time.sleep(0.1)  # polling the warm-up's effect, bounded by the deadline

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def serve() -> None:
    """``python -m benchmarks.unread``: the processor process (settings from the environment) until SIGTERM."""
    settings = get_settings()
    keys.use_namespace(settings.namespace)  # the benchmark run's namespace, as a worker would

    async def main() -> None:
        resources = Resources.open(settings)
        loop = BatchLoop(settings, _processor(resources), resources.publisher, resources.codec)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, loop.stop)
        settle_after_startup()  # as the worker does once its loops are built (streams.batch_tasks)
        try:
            await loop.run(batch_max=settings.batch_max_events)
        finally:
            await resources.close()

    asyncio.run(main())


async def _warm_up(publisher: Publisher, sent: dict[str, int], ours: set[str], raw: RawTimer) -> None:
    """One probe through the whole path before the clock starts: a new producer's first sends wait for its
    connection and idempotence id, and a new consumer's first fetch for its partitions (~0.5–1.5 s measured),
    which is set-up, not the steady latency this benchmark reports."""
    user = new_id()
    event = events.message_unsent(src=new_id(), dest=user, msg_id=new_id())
    sent[user] = int(event.value["occurred_at"])
    ours.add(event.event_id)
    publisher.submit(event)
    publisher.flush(30)
    deadline = time.perf_counter() + 60
    while user in sent or not raw.samples:
        if time.perf_counter() > deadline:
            raise BenchError("the warm-up probe was not applied and consumed within 60 s")
        await asyncio.sleep(0.05)  # polling the warm-up probe's ping and raw receipt, bounded by the deadline


@dataclass
class Applied:
    """One latency run's samples (ms from each event's ``occurred_at``)."""

    applied: list[float]  # → the processor's script wrote the badge (Redis's clock, carried by the ping)
    observed: list[float]  # → this process read the ping (the applied moment plus pub/sub and this loop's delay)
    raw: list[float]  # the baseline: → a raw consumer in this process got the event


async def applied_latency(settings: Settings, rate: float, duration_s: float,
                          users: list[str] | None = None) -> Applied:
    """Event → Redis applied, → observed, and the raw consume baseline at ``rate`` events/s, each event a new
    sender for one of ``users`` (default: :data:`PROBE_USERS` fresh ones); the processor runs in its own process
    (started by the caller). "Applied" is the time the ping carries (:func:`sinks.unread.applied_at`): the
    subscriber here shares its event loop with the 5,000 sends a second and their futures, which added its own
    wait to every sample it timed on arrival (both figures are reported)."""
    users = users or [new_id() for _ in range(PROBE_USERS)]
    sent: dict[str, int] = {}  # user -> occurred_at of its outstanding probe
    probed: list[str] = []  # every user sent a probe (for the diagnosis when none was observed)
    applied: list[str] = []
    ours: set[str] = set()
    samples: list[float] = []
    observed: list[float] = []
    redis = async_client(settings)
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.psubscribe(keys.status_channel(settings.app_id, "*"))  # this run's channels only
    raw = RawTimer(settings, ours)
    publisher = Publisher(settings)

    async def listen() -> None:
        while True:
            message = await pubsub.get_message(timeout=1.0)
            if message is None:
                continue
            at = sent.pop(keys.status_channel_owner(message["channel"]), None)
            if at is not None:
                observed.append(time.time() * 1000 - at)
                stamp = applied_at(message["data"])
                samples.append(observed[-1] if stamp is None else stamp * 1000 - at)

    listener = asyncio.create_task(listen())
    try:
        await _warm_up(publisher, sent, ours, raw)
        samples.clear()
        observed.clear()
        raw.samples.clear()
        started = time.perf_counter()
        for i in range(int(rate * duration_s)):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing the steady rate
            dest = users[i % len(users)]
            if dest in sent:  # one outstanding probe per user: its ping is unambiguous
                continue
            event = events.message_unsent(src=new_id(), dest=dest, msg_id=new_id())
            sent[dest] = int(event.value["occurred_at"])
            probed.append(dest)
            ours.add(event.event_id)
            publisher.submit(event)
        publisher.flush(30)
        deadline = time.perf_counter() + 30
        while sent and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)  # the last probes' pings
        if not samples:
            applied = [user for user in probed[:200] if await redis.scard(keys.unread_senders(user))]
    finally:
        listener.cancel()
        raw.close()
        publisher.close()
        await pubsub.aclose()
        await redis.aclose()
    if not samples:
        raise BenchError(f"no event was observed applied: {len(probed):,} probes sent, of the first "
                         f"{min(200, len(probed))} {len(applied)} are in Redis, none pinged on this run's channel "
                         "(if any: another process applied them first — a worker left running on this keyspace "
                         "and Redis DB?)")
    return Applied(samples, observed, raw.samples)


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):  # noqa: SIM115 - a tiny procfs read
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise BenchError(f"no VmRSS for {pid}")


async def hold_and_push(env: BenchEnv, settings: Settings, connections: int, probes: int,
                        rate: float) -> tuple[int, float, list[float], Counter[str], str, tuple[Pauses, Pauses]]:
    """Open ``connections`` WebSockets (distinct users) to one API process; with them held, publish ``probes``
    unsent messages to connected users at ``rate``/s and time event → pushed on the socket. Returns (connections
    held, API RSS KiB per connection, push latencies ms, why probes saw no push, where their pushes stopped, the
    API process's collector pauses while the sockets opened and while the pushes went out)."""
    from websockets.asyncio.client import connect

    from api.auth import mint_access_token
    from benchmarks.env import free_port

    port = free_port()
    api = env.start("api-status", ["api"], env.subprocess_env(settings) | {
        "PHOTOSTREAM_API_PORT": str(port), "PHOTOSTREAM_RATE_LIMIT_READS_PER_SECOND": "0"},
        f"http://127.0.0.1:{port}/readyz")
    users = [new_id() for _ in range(connections)]
    sockets: dict[str, Any] = {}
    gate = asyncio.Semaphore(50)  # handshakes in flight

    async def open_one(user: str) -> None:
        async with gate:
            url = f"ws://127.0.0.1:{port}/api/v1/users/{user}/status/stream"
            ws = await connect(url, additional_headers={"Authorization": f"Bearer "
                                                        f"{mint_access_token(settings, user)}"},
                               open_timeout=120, ping_interval=None, max_queue=4)
            await ws.recv()  # the current status: registered and served
            sockets[user] = ws

    metrics_url = f"http://127.0.0.1:{port}/metrics"
    try:
        before = rss_kib(api.pid)
        scraped = [gc_pause_counts(metrics_url)]
        results = await asyncio.gather(*(open_one(u) for u in users), return_exceptions=True)
        held = len(sockets)
        if not held:
            raise BenchError(f"no WebSocket opened: {next(r for r in results if r is not None)!r}")
        per_connection = (rss_kib(api.pid) - before) / held
        scraped.append(gc_pause_counts(metrics_url))
        # the client ends of the sockets live until the end: out of this process's collector's sight, or a full
        # collection walking them (0.3–0.7 s each, several while the sockets opened) is timed as push latency
        settle_after_startup()
        latencies: list[float] = []
        publisher = Publisher(settings)
        # connected before the clock (see _warm_up): a message to a user with no socket, answered by its ack
        publisher.publish(events.message_unsent(src=new_id(), dest=new_id(), msg_id=new_id()))

        async def probe(user: str, at: int) -> None:
            ws = sockets[user]
            while True:
                status = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if status["newly_unread_count"] == 1:
                    latencies.append(time.time() * 1000 - at)
                    return

        waiting: dict[str, asyncio.Task[None]] = {}
        started = time.perf_counter()
        for i, user in enumerate(list(sockets)[:probes]):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # pacing
            event = events.message_unsent(src=new_id(), dest=user, msg_id=new_id())
            waiting[user] = asyncio.create_task(probe(user, int(event.value["occurred_at"])))
            publisher.submit(event)
        publisher.flush(30)
        outcomes = dict(zip(waiting, await asyncio.gather(*waiting.values(), return_exceptions=True), strict=True))
        publisher.close()
        scraped.append(gc_pause_counts(metrics_url))
        lost = [user for user, outcome in outcomes.items() if isinstance(outcome, BaseException)]
        failures = Counter(f"{type(o).__name__}: {o}"[:100] for o in outcomes.values() if isinstance(o, BaseException))
        pauses = (longest_pause(scraped[0], scraped[1]), longest_pause(scraped[1], scraped[2]))
        return held, per_connection, latencies, failures, why_unpushed(settings, lost) if lost else "", pauses
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets.values()), return_exceptions=True)
        gc.unfreeze()  # (closed, they are garbage again: collectable)
        env.stop(api)


#: the API process's garbage-collection pauses between two scrapes: (upper bound of the longest, seconds; how
#: many took over 0.1 s)
Pauses = tuple[float, int]


def gc_pause_counts(metrics_url: str) -> dict[str, float]:
    """The API process's ``photostream_gc_pause_seconds`` bucket counts, every generation summed, by bound."""
    counts: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(httpx.get(metrics_url, timeout=10).text):
        if family.name == "photostream_gc_pause_seconds":
            for sample in family.samples:
                if sample.name.endswith("_bucket"):
                    counts[sample.labels["le"]] += sample.value
    if not counts:
        raise BenchError(f"{metrics_url} exports no photostream_gc_pause_seconds")
    return counts


def longest_pause(before: dict[str, float], after: dict[str, float]) -> Pauses:
    """The longest collection between two scrapes, as the least bucket bound holding them all (inf: over the
    last bound), and how many took more than 0.1 s."""
    grew = {bound: after[bound] - before.get(bound, 0.0) for bound in after}
    every = grew["+Inf"]
    longest = min((float(bound) for bound, n in grew.items() if n >= every), default=0.0) if every else 0.0
    return longest, int(every - grew.get("0.1", 0.0))


def fmt_pauses(pauses: Pauses) -> str:
    longest, slow = pauses
    if longest == 0.0:
        return "no collection"
    return f"longest ≤ {longest * 1000:g} ms, {slow} over 100 ms" if longest != float("inf") else \
        f"longest over the last bound, {slow} over 100 ms"


def why_unpushed(settings: Settings, users: list[str]) -> str:
    """Where the pushes of ``users`` stopped: was the unread sender applied in Redis, and was an API process
    still subscribed to the user's channel?"""
    redis = sync_client(settings)
    try:
        pipe = redis.pipeline(transaction=False)
        for user in users:
            pipe.scard(keys.unread_senders(user))
        applied = sum(1 for n in pipe.execute() if n)
        channels = [keys.status_channel(settings.app_id, u) for u in users]
        subscribed = sum(1 for _, n in redis.pubsub_numsub(*channels) if n)
    finally:
        redis.close()
    return f"diagnosis: {applied} of {len(users)} applied in Redis, {subscribed} still subscribed"


def status_readers(settings: Settings, users: list[str]) -> dict[str, int]:
    """Up to :data:`STATUS_READERS` of ``users`` with unread senders in Redis, and how many each."""
    redis = sync_client(settings)
    try:
        pipe = redis.pipeline(transaction=False)
        for user in users:
            pipe.scard(keys.unread_senders(user))
        counts = dict(zip(users, pipe.execute(), strict=True))
    finally:
        redis.close()
    readers = {user: count for user, count in counts.items() if count}
    if not readers:
        raise BenchError(f"none of {len(users):,} probed users has unread senders in Redis")
    return dict(list(readers.items())[:STATUS_READERS])


def status_reads(env: BenchEnv, settings: Settings, readers: list[str],
                 duration_s: float) -> tuple[api_reads.ReadLoad, api_reads.ReadLoad, int]:
    """``GET /users/{id}/status`` (each reader its own) on one API process per core, then a bare Starlette endpoint
    serving a captured status body the same way; (API loads, bare loads, processes per server)."""
    processes = os.cpu_count() or 1
    server_env = feeds_api.api_env(env, settings, env.subprocess_env(settings))
    targets = feeds_api.targets_file(env, settings, "status", readers, STATUS_PATH)
    api = feeds_api.Servers(env, "api", processes, server_env, "/readyz")
    try:
        body = api_reads.capture(api.port, settings, STATUS_PATH.replace("{reader}", readers[0]), readers[0])
        read = api_reads.saturate_then_half(api, targets, duration_s)
    finally:
        api.stop()
    return read, api_reads.bare(env, settings, "status", body, processes, server_env, duration_s, read.rate), processes


def run(env: BenchEnv, events_count: int = 20_000, rate: float = 5_000.0, duration_s: float = 10.0,
        connections: int = 10_000, quick: bool = False) -> Section:
    section = Section(TITLE, from_docstring(__doc__),
                      ["what", "input", "events", "unread processor", "baseline", "ratio", "goal"])
    settings = env.with_app_id("unread")
    env.groups |= {f"{settings.app_id}.raw", f"{settings.app_id}.raw-latency"}

    probed = [new_id() for _ in range(PROBE_USERS)]
    processor = ProcessorProcess(env, settings)
    try:
        light = asyncio.run(applied_latency(settings, rate / 5, duration_s))
        heavy = asyncio.run(applied_latency(settings, rate, duration_s, probed))
        if connections:
            held, per_connection, pushed, lost, diagnosis, (opening, pushing) = asyncio.run(hold_and_push(
                env, settings, connections, probes=1000, rate=200.0))
    finally:
        processor.stop()
    for at_rate, run_ in ((rate / 5, light), (rate, heavy)):
        pipe, seen, base = Distribution.of(run_.applied), Distribution.of(run_.observed), Distribution.of(run_.raw)
        section.rows.append(["event → Redis applied p50 / p99", f"{at_rate:g}/s for {duration_s:g} s",
                             f"{pipe.count:,}", f"{fmt_ms(pipe.p50)} / {fmt_ms(pipe.p99)}",
                             f"raw send → consume {fmt_ms(base.p50)} / {fmt_ms(base.p99)}",
                             fmt_ratio(ratio(pipe.p99, base.p99)),
                             verdict(pipe.p99 < LATENCY_GOAL_MS) + f" (< {LATENCY_GOAL_MS:g} ms)"])
        section.rows.append(["… its ping read by a subscriber p50 / p99", f"{at_rate:g}/s for {duration_s:g} s",
                             f"{seen.count:,}", f"{fmt_ms(seen.p50)} / {fmt_ms(seen.p99)}", "–", "–", "–"])
    section.summary.append(f"unread: applied p99 {fmt_ms(pipe.p99)} at {rate:g}/s (read by a subscriber: p99 "
                           f"{fmt_ms(seen.p99)}; raw consume p99 {fmt_ms(base.p99)}; goal < {LATENCY_GOAL_MS:g} ms)")

    if connections:
        push, light_p99 = Distribution.of(pushed), Distribution.of(light.applied).p99
        section.rows.append(["event → WebSocket push p50 / p99", f"200/s, {held:,} sockets held", f"{push.count:,}",
                             f"{fmt_ms(push.p50)} / {fmt_ms(push.p99)}",
                             f"event → Redis applied p99 at {rate / 5:g}/s {fmt_ms(light_p99)}",
                             fmt_ratio(ratio(push.p99, light_p99)),
                             verdict(push.p99 < PUSH_GOAL_MS) + f" (< {PUSH_GOAL_MS:g} ms)"])
        section.rows.append(["WebSockets held by one API process", f"{connections:,} opened", f"{held:,}",
                             f"{per_connection:.1f} KiB RSS per connection", "–", "–",
                             verdict(held == connections)])
        section.rows.append(["the API process's garbage-collection pauses", f"while {held:,} sockets opened · "
                             "while the pushes went out", "–", f"{fmt_pauses(opening)} · {fmt_pauses(pushing)}",
                             "–", "–", "–"])
        if lost:
            section.notes.append(f"**{sum(lost.values())} push probes saw no push**: "
                                 + "; ".join(f"{n} × {why}" for why, n in lost.most_common(5)) + f" ({diagnosis})")
        section.summary.append(f"unread: push p99 {fmt_ms(push.p99)} with {held:,} sockets held, "
                               f"{per_connection:.1f} KiB per connection")

    readers = status_readers(settings, probed)
    read, bare, processes = status_reads(env, settings, list(readers), 3.0 if quick else 8.0)
    status_rows = api_reads.rows("GET /users/{id}/status", processes, read, bare,
                                 "bare Starlette JSON (captured status), same serving", STATUS_P99_GOAL_MS)
    # (the third row, when there is one, sets the API's p99 at half beside the bare endpoint at half its own rate)
    for (what, *figures), load in zip(status_rows, (read.saturated, read.at_half, read.at_half), strict=False):
        section.rows.append([what, f"{len(readers)} readers", f"{load.latency.count:,} requests", *figures])
    section.notes += api_reads.problems("GET /users/{id}/status", read)
    section.notes.append(f"status readers: {len(readers)} users with {min(readers.values())}–{max(readers.values())} "
                         f"unread senders each; p50 at half the rate {fmt_ms(read.at_half.latency.p50)} (bare "
                         f"{fmt_ms(bare.at_half.latency.p50)}); API CPU per request at saturation "
                         f"{fmt_us(read.saturated.cpu_us)} (bare {fmt_us(bare.saturated.cpu_us)}); the load generator "
                         f"runs on the same cores ({read.saturated.generator_cpu_s:.1f} CPU-s at saturation).")
    section.summary.append(f"unread: GET status saturates at {fmt_rate(read.saturated.rate)} (bare "
                           f"{fmt_rate(bare.saturated.rate)}); p99 {fmt_ms(read.at_half.latency.p99)} at "
                           f"{read.rate:.0f}/s (bare {fmt_ms(bare.at_half.latency.p99)}; goal < "
                           f"{STATUS_P99_GOAL_MS:g} ms)")

    clock = Clock(tuple(stack_pids(settings.stack_dir).values()))
    unsent, reads = throughput_records(events_count, users=max(100, events_count // 20))
    start_u, end_u = produce(settings, "ON_MSG_UNSENT", unsent)
    start_r, end_r = produce(settings, "MESSAGES_READ", reads)
    start, end = {**start_u, **start_r}, {**end_u, **end_r}
    base_run = raw_consume(settings, clock, start, end)
    pipe_run = asyncio.run(drive(settings, clock, _processor, start, end))
    _rows(section, "unread processor", "ON_MSG_UNSENT + MESSAGES_READ", base_run, pipe_run)
    section.notes.append(f"throughput input: {len(unsent):,} unsent + {len(reads):,} read marks over "
                         f"{max(100, events_count // 20):,} users; probes for latency: one outstanding per user "
                         f"({PROBE_USERS:,} users), a send is skipped while its user's probe is in flight.")
    section.notes.append(f"goal for throughput ≥ {GOAL} (as for every processor).")
    return section


if __name__ == "__main__":
    serve()
