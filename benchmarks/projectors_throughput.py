"""Benchmark 16: the projectors (posts, profiles) draining a backlog vs a raw consume + decode loop.

The engine issue asks every processor, projectors included, for ≥ 0.5× a raw consume + decode loop on the same
topic. Each projector runs as a deployment runs it: a real `photostream worker` (one process, `--processes 1`)
running only that projector (`WORKER_PROCESSORS`), on a fresh app id whose group is seeded at the start of a
backlog produced before the worker starts (valid events of the projector's topic: new posts by 500 authors; new
accounts). The backlog is several of the loop's batches (`BATCH_MAX_EVENTS`) long, and the applied-offset marks
(what `?after=` reads wait on, written after the data) move once per batch: the rate is the events applied after
the first batch's marks were seen, over the time from then until every partition's mark reached the backlog's
end (polled every 5 ms). So the worker's start-up, group join and first batch are not counted, and every counted
event was decoded, written and marked inside the span (librdkafka fetches ahead in the background, as it does for
the raw loop). Baseline: benchmark 3's raw confluent-kafka
consume + decode loop over exactly those offsets, in this process, in the same run. CPU per event: the worker's
processes (all threads) over the timed span.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

from benchmarks.cpu import stack_pids
from benchmarks.env import BenchEnv, BenchError
from benchmarks.feeds_pipeline import BenchWorker
from benchmarks.kafka_tools import end_offsets, groups_of, seed_groups
from benchmarks.pipeline_throughput import GOAL, Clock, Run, produce, raw_consume
from benchmarks.report import Section, from_docstring
from benchmarks.stats import fmt_rate, fmt_ratio, fmt_us, ratio, verdict
from producers import events
from producers.ids import new_id
from sinks import keys

NUMBER = 16
TITLE = "16. The projectors draining a backlog vs raw consume + decode"
AUTHORS = [new_id() for _ in range(500)]
#: how long the projector may take for its backlog
DRAIN_TIMEOUT_S = 300.0

Workload = Callable[[int], dict[str, Any]]
#: projector -> (the topic of its backlog, the i-th event)
WORKLOADS: dict[str, tuple[str, Workload]] = {
    "posts": ("post-created", lambda i: events.post_created(
        author_id=AUTHORS[i % len(AUTHORS)], caption=f"golden hour #{i % 97}", image_ids=[new_id()]).value),
    "profiles": ("user-registered", lambda i: events.user_registered(
        user_id=new_id(), username=f"bench_{i}_{new_id()[-8:]}", display_name=f"Bench {i}").value),
}


def drained(marks: redis.Redis[bytes], consumer: str, topic: str, start: dict[tuple[str, int], int],
            end: dict[tuple[str, int], int], cpu: Callable[[], tuple[float, float]]
            ) -> tuple[int, float, float, float, float]:
    """(events applied after the first marks inside the backlog were seen, seconds from then until the last mark
    reached its end, the worker's and the stack's CPU seconds over that span (``cpu`` reads both), seconds from the
    call until the first mark moved)."""
    wanted = {partition: end[(t, partition)] - 1 for (t, partition) in end if t == topic
              and end[(t, partition)] > start[(t, partition)]}
    key = keys.applied_offsets(consumer, topic)
    called = time.perf_counter()
    deadline = called + DRAIN_TIMEOUT_S
    first_at, first_cpu = None, (0.0, 0.0)
    applied_then = 0
    while time.perf_counter() < deadline:
        found = dict(zip(wanted, marks.hmget(key, [str(p) for p in wanted]), strict=True))
        reached = {p: int(found[p] or -1) for p in wanted}
        if first_at is None and any(reached[p] >= start[(topic, p)] for p in wanted):
            first_at, first_cpu = time.perf_counter(), cpu()
            applied_then = sum(max(0, reached[p] + 1 - start[(topic, p)]) for p in wanted)
        if all(reached[p] >= wanted[p] for p in wanted):
            if first_at is None or applied_then >= sum(wanted[p] + 1 - start[(topic, p)] for p in wanted):
                raise BenchError(f"{consumer}: the whole backlog was applied in one batch; make it longer than "
                                 "BATCH_MAX_EVENTS (--projector-events)")
            total = sum(wanted[p] + 1 - start[(topic, p)] for p in wanted)
            worker_s, stack_s = cpu()
            return (total - applied_then, time.perf_counter() - first_at, worker_s - first_cpu[0],
                    stack_s - first_cpu[1], first_at - called)
        time.sleep(0.005)  # (polling a Redis hash at the harness's resolution)
    raise BenchError(f"{consumer}: the backlog was not applied within {DRAIN_TIMEOUT_S:g} s")


def measure(env: BenchEnv, name: str, count: int) -> tuple[Run, Run, float]:
    """(the projector's run, the raw loop's run, seconds before its first mark moved) over one backlog."""
    topic, workload = WORKLOADS[name]
    settings = env.with_app_id(f"projector-{name}")
    records = [workload(i) for i in range(count)]  # (built before any clock: the SDK's cost is benchmark 1's)
    groups = groups_of(settings.app_id)
    env.groups |= set(groups)
    before = end_offsets(settings, {t for ts in groups.values() for t in ts})
    start, end = produce(settings, topic, records)
    seed_groups(settings, groups, before | start)
    clock = Clock(tuple(stack_pids(settings.stack_dir).values()))
    base = raw_consume(settings, clock, start, end)
    worker_env = env.subprocess_env(settings) | {"PHOTOSTREAM_WORKER_PROCESSORS": name}
    process = env.start(f"worker-projector-{name}", ["worker", "--processes", "1", "--loglevel", "warning"],
                        worker_env, f"http://127.0.0.1:{worker_env['PHOTOSTREAM_WORKER_WEB_PORT']}/metrics")
    worker = BenchWorker(settings, worker_env, process)
    try:
        with redis.Redis.from_url(settings.redis_url) as marks:
            counted, wall_s, cpu_s, stack_s, waited_s = drained(
                marks, name, topic, start, end, lambda: (worker.cpu_s(), clock.now().stack))
    finally:
        env.stop(process)
    return Run(counted, wall_s, cpu_s, stack_s, join_s=waited_s), base, waited_s


def run(env: BenchEnv, events_each: int) -> Section:
    section = Section(TITLE, from_docstring(__doc__),
                      ["projector", "input topic", "events", "projector", "raw consume + decode (baseline)", "ratio",
                       f"goal ≥ {GOAL}"])
    for name, (topic, _) in WORKLOADS.items():
        pipe, base, waited_s = measure(env, name, events_each)
        r = ratio(pipe.rate, base.rate)
        section.rows.append([name, f"`{topic}`", f"{pipe.events:,}", fmt_rate(pipe.rate), fmt_rate(base.rate),
                             fmt_ratio(r), verdict(r >= GOAL)])
        section.rows.append([f"{name}: CPU per event (the worker's processes · this process)", "", "",
                             fmt_us(pipe.cpu_us), fmt_us(base.cpu_us), fmt_ratio(ratio(pipe.cpu_us, base.cpu_us)),
                             "–"])
        section.rows.append([f"{name}: Kafka + Cassandra + Redis CPU per event", "", "", fmt_us(pipe.stack_us),
                             fmt_us(base.stack_us), "–", "–"])
        section.summary.append(f"{name} projector: {fmt_rate(pipe.rate)} from a backlog vs raw consume "
                               f"{fmt_rate(base.rate)} ratio {fmt_ratio(r)} (goal >= {GOAL})")
        section.notes.append(f"{name}: {pipe.events:,} events counted of a {events_each:,}-event backlog (the first "
                             f"batch's are not: its marks open the span); the first marks moved {waited_s:.1f} s "
                             "after the worker was started")
    return section
