"""`python -m benchmarks`: run every benchmark once on the local stack, write bench-report.md, print a summary.

Order is chosen to keep the run from disturbing itself: the latency benchmarks (little Kafka traffic) run
first, the bulk producers (pipeline throughput, then SDK publish rate) last, because every live consumer on
the shared topics — a demo worker, someone's test run — processes what they produce, and would still be busy
with it during a later latency measurement.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import api_latency, codec_cost, pipeline_throughput, publish_rate, recovery, visibility_latency
from benchmarks import backlog_latency as backlog_bench
from benchmarks import dlq_storm as storm_bench
from benchmarks import feeds as feeds_bench
from benchmarks import images_latency as images_bench
from benchmarks import notifications as notifications_bench
from benchmarks import processors_throughput as processors_bench
from benchmarks import projectors_throughput as projectors_bench
from benchmarks import replay_speed as replay_bench
from benchmarks import resize as resize_bench
from benchmarks import unread as unread_bench
from benchmarks.cpu import QUIET_BELOW, wait_for_quiet
from benchmarks.env import BenchEnv
from benchmarks.kafka_tools import live_groups_on
from benchmarks.pipeline_throughput import PipelineFigures
from benchmarks.report import Report, Section
from benchmarks.visibility_latency import Worker
from photostream.settings import PROJECT_ROOT

RECOVERY_TITLE = "6. Recovery after SIGKILL: takeover and restart to ready"
BULK_TOPICS = ("post-created", "post-hashtag", "like-changed", "comment-added", "follow-changed", "ON_MSG_UNSENT")
#: the full run's steps in their order (see the module docstring); ``--only`` picks some of them, kept in this order
STEPS = ("latency", "recovery", "unread", "feeds", "resize", "images", "notifications", "replay", "backlog",
         "throughput", "processors", "projectors", "storm", "publish", "codec")


def only_list(text: str) -> frozenset[str]:
    """``--only recovery,unread``: names from :data:`STEPS` (run in the full run's order, whatever order given)."""
    names = frozenset(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(names - set(STEPS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown benchmark {', '.join(unknown) or '(none)'}; "
                                         f"choose from {', '.join(STEPS)}")
    return names


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--publish-events", type=int, default=50_000, help="per event type (benchmark 1)")
    parser.add_argument("--counter-events", type=int, default=50_000, help="post-hashtag events (benchmark 3)")
    parser.add_argument("--extractor-posts", type=int, default=10_000, help="post-created events (benchmark 3)")
    parser.add_argument("--tags", type=int, default=3_000, help="distinct tags in the Zipf workload")
    parser.add_argument("--codec-iterations", type=int, default=20_000, help="per loop (benchmark 2)")
    parser.add_argument("--latency-posts", type=int, default=200, help="posts (benchmark 4)")
    parser.add_argument("--latency-rate", type=float, default=20.0, help="posts/s (benchmark 4)")
    parser.add_argument("--api-rate", type=float, default=1000.0, help="requests/s (benchmark 5)")
    parser.add_argument("--api-duration", type=float, default=10.0, help="seconds per load (benchmark 5)")
    parser.add_argument("--quick", action="store_true", help="a tenth of every volume: checks the harness")
    parser.add_argument("--smoke", action="store_true",
                        help="seconds, for CI: benchmarks 1, 2 and 9 at tiny volumes (figures still beside "
                             "same-run baselines, but too small to quote)")
    parser.add_argument("--replay-records", type=int, default=50_000, help="records (benchmark 12)")
    parser.add_argument("--processor-events", type=int, default=10_000, help="events per processor (benchmark 13)")
    parser.add_argument("--projector-events", type=int, default=200_000,
                        help="events per projector (benchmark 16; more than BATCH_MAX_EVENTS)")
    parser.add_argument("--storm-records", type=int, default=100_000, help="poison records (benchmark 14)")
    parser.add_argument("--resize-iterations", type=int, default=20, help="12 MP resizes per resizer (benchmark 9)")
    parser.add_argument("--only", type=only_list, metavar="NAME[,NAME...]",
                        help="run just these benchmarks, in the full run's order (" + ", ".join(STEPS) + "; "
                             "latency: 4 and 5, recovery: 6, unread: 7, backlog: 15, throughput: 3, processors: 13, "
                             "projectors: 16, "
                             "storm: 14, publish: 1, codec: 2)")
    parser.add_argument("--report", type=Path, default=PROJECT_ROOT / "bench-report.md")
    args = parser.parse_args(argv)
    if args.quick:
        for name in ("publish_events", "counter_events", "extractor_posts", "codec_iterations", "latency_posts",
                     "replay_records", "processor_events", "projector_events", "storm_records"):
            setattr(args, name, max(10, getattr(args, name) // 10))
        args.api_duration = max(1.0, args.api_duration / 5)
    if args.smoke:
        args.publish_events, args.codec_iterations, args.resize_iterations = 200, 2_000, 2
    return args


def attempt(sections: dict[int, Section], number: int, title: str, action: Callable[[], Section]) -> bool:
    """Run one benchmark into ``sections[number]``; a failure becomes a section saying why (others still run)."""
    started = time.monotonic()
    try:
        section = action()
    except Exception as exc:
        traceback.print_exc()
        section = Section(title, error=f"{type(exc).__name__}: {str(exc)[:1500]}")
    section.seconds = time.monotonic() - started
    sections[number] = section
    return section.error is None


#: how long a step waits for the machine to settle after the previous one (benchmarks.cpu.wait_for_quiet)
QUIET_WAIT_MAX_S = 60.0


def stop_leftovers(env: BenchEnv, step: str, produced: list[Section]) -> None:
    """A step must stop every subprocess it started: a worker left running consumes the next steps' events on
    the shared topics, into the same keyspace and Redis DB, and races their processes (the recovery workers
    once applied the unread step's events first, so its processor had nothing left to change and no ping to
    send). Any left are stopped here, and the step's sections say so."""
    leftovers = [process.name for process in env.processes]
    if not leftovers:
        return
    for process in list(env.processes):
        env.stop(process)
    message = f"left subprocesses running: {', '.join(leftovers)} (a harness bug; stopped before the next step)"
    print(f"benchmark step {step}: {message}", file=sys.stderr)
    for section in produced:
        section.notes.append(message)


def context(env: BenchEnv, args: argparse.Namespace) -> list[str]:
    def git(*command: str) -> str:
        done = subprocess.run(["git", *command], capture_output=True, text=True, cwd=PROJECT_ROOT, check=False)
        return done.stdout.strip()

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    lines = [
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, commit `{git('rev-parse', '--short', 'HEAD')}`"
        + (" + uncommitted changes to tracked files" if git("status", "--porcelain", "--untracked-files=no") else ""),
        f"machine: {os.cpu_count()} × {model}, {memory_gb:.0f} GiB; Python {platform.python_version()}; the "
        "stack (Kafka, Cassandra, Redis, S3, Prometheus) runs on the same cores",
        f"isolation: keyspace `{env.settings.cassandra_keyspace}`, Redis DB {env.redis_db}, bucket "
        f"`{env.settings.s3_bucket}`, app ids "
        f"`{env.settings.app_id}-*`; all removed at the end",
        "every figure stands next to a baseline measured in this run; **ratio = figure ÷ baseline**",
        f"volumes: {args.publish_events:,} events per type (1), {args.counter_events:,} post-hashtag events and "
        f"{args.extractor_posts:,} posts (3), {args.latency_posts} posts at {args.latency_rate:g}/s (4), "
        f"{args.api_rate:g} requests/s for {args.api_duration:g} s per target (5)",
    ]
    if args.smoke:
        lines.append(f"**smoke run** (`--smoke`, CI): {args.publish_events} events per type (1), "
                     f"{args.resize_iterations} resizes (9); checks the harness, figures too small to quote")
    neighbours = live_groups_on(env.settings, BULK_TOPICS, "photostream-bench-")
    if neighbours:
        lines.append("**live consumer groups of other processes on the benchmark's topics** (they process the "
                     "benchmark's events too and compete for the same 2 cores; figures are skewed by it): "
                     + ", ".join(f"`{g}` ({', '.join(t)})" for g, t in sorted(neighbours.items())))
    else:
        lines.append("no other live consumer group on the benchmark's topics")
    return lines


def latency_benchmarks(env: BenchEnv, args: argparse.Namespace, sections: dict[int, Section]) -> None:
    """4 and 5 share one worker: it serves 4's probes, then fills the hot tags 5 reads (and stops before 5)."""
    worker: Worker | None = None

    def visible() -> Section:
        nonlocal worker
        worker = visibility_latency.start_worker(env)
        return visibility_latency.run(env, worker, args.latency_posts, args.latency_rate)

    def api() -> Section:
        if worker is None:
            raise RuntimeError("no worker (benchmark 4 failed to start it) to fill the hot tags")
        visibility_latency.fill_hot_tags(env, worker, tags=5, posts=60)
        env.stop(worker.process)
        return api_latency.run(env, worker, args.api_rate, args.api_duration)

    try:
        attempt(sections, 4, "4. Post → tag count visible (p50/p99)", visible)
        attempt(sections, 5, f"5. GET /api/v1/hashtags/{{tag}} at {args.api_rate:g} requests/s", api)
    finally:
        if worker is not None:
            env.stop(worker.process)


def run_all(env: BenchEnv, args: argparse.Namespace) -> dict[int, Section]:
    sections: dict[int, Section] = {}
    figures, sdk_cpu_us = PipelineFigures(), dict[str, float]()
    if args.smoke:  # no worker, no long load: the publisher, the codec and the resizer against their baselines
        attempt(sections, 1, "1. SDK publish rate vs confluent-kafka's AvroSerializer",
                lambda: publish_rate.run(env, args.publish_events, sdk_cpu_us))
        attempt(sections, 2, "2. Avro encode + decode vs the pipeline's CPU per event",
                lambda: codec_cost.run(env.run_id, figures, sdk_cpu_us, args.codec_iterations))
        attempt(sections, resize_bench.NUMBER, resize_bench.TITLE, lambda: resize_bench.run(args.resize_iterations))
        return sections
    steps: dict[str, Callable[[], object]] = {
        "latency": lambda: latency_benchmarks(env, args, sections),
        "recovery": lambda: attempt(sections, 6, RECOVERY_TITLE, lambda: recovery.run(env)),
        "unread": lambda: attempt(sections, 7, unread_bench.TITLE, lambda: unread_bench.run(env, quick=args.quick)),
        "feeds": lambda: attempt(sections, feeds_bench.NUMBER, feeds_bench.TITLE,
                                 lambda: feeds_bench.run(env, args.quick)),
        "resize": lambda: attempt(sections, resize_bench.NUMBER, resize_bench.TITLE,
                                  lambda: resize_bench.run(args.resize_iterations)),
        "images": lambda: attempt(sections, images_bench.NUMBER, images_bench.TITLE,
                                  lambda: images_bench.run(env, args.quick)),
        "notifications": lambda: attempt(sections, notifications_bench.NUMBER, notifications_bench.TITLE,
                                         lambda: notifications_bench.run(env, args.quick)),
        "replay": lambda: attempt(sections, replay_bench.NUMBER, replay_bench.TITLE,
                                  lambda: replay_bench.run(env, args.replay_records)),
        "backlog": lambda: attempt(sections, backlog_bench.NUMBER, backlog_bench.TITLE,
                                   lambda: backlog_bench.run(env)),
        "throughput": lambda: attempt(sections, 3, "3. Hashtag pipeline throughput vs raw consume loop",
                                      lambda: pipeline_throughput.run(env, args.counter_events,
                                                                      args.extractor_posts, args.tags, figures)),
        "processors": lambda: attempt(sections, processors_bench.NUMBER, processors_bench.TITLE,
                                      lambda: processors_bench.run(env, args.processor_events)),
        "projectors": lambda: attempt(sections, projectors_bench.NUMBER, projectors_bench.TITLE,
                                      lambda: projectors_bench.run(env, args.projector_events)),
        "storm": lambda: attempt(sections, storm_bench.NUMBER, storm_bench.TITLE,
                                 lambda: storm_bench.run(env, args.storm_records)),
        "publish": lambda: attempt(sections, 1, "1. SDK publish rate vs confluent-kafka's AvroSerializer",
                                   lambda: publish_rate.run(env, args.publish_events, sdk_cpu_us)),
        "codec": lambda: attempt(sections, 2, "2. Avro encode + decode vs the pipeline's CPU per event",
                                 lambda: codec_cost.run(env.run_id, figures, sdk_cpu_us, args.codec_iterations)),
    }
    assert tuple(steps) == STEPS
    for name, step in steps.items():
        if args.only is None or name in args.only:
            waited, share = wait_for_quiet(max_s=QUIET_WAIT_MAX_S)
            before = set(sections)
            step()
            produced = [sections[n] for n in sorted(set(sections) - before)]
            for section in produced:
                section.notes.append(f"before this step the machine settled for {waited:.0f} s (last second "
                                     f"{share:.0%} busy; quiet below {QUIET_BELOW:.0%}, waited at most "
                                     f"{QUIET_WAIT_MAX_S:g} s)")
            stop_leftovers(env, name, produced)
    return sections


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the clean-up below runs
    started = time.monotonic()
    env = BenchEnv.open()
    report = Report("photostream benchmarks")
    try:
        report.context = context(env, args)
        sections = run_all(env, args)
    finally:
        problems = env.close()
    report.sections = [sections[n] for n in sorted(sections)]
    report.footer = [
        f"`make bench` body took {time.monotonic() - started:.0f} s; executed in the order "
        f"{', '.join(str(n) for n in sections)} "
        "(latency first, bulk producers last — see benchmarks/__main__.py)",
        "clean-up: " + ("; ".join(problems) if problems else "keyspace dropped, Redis DB flushed, consumer groups "
                        "deleted, subprocesses stopped"),
    ]
    report.write(args.report)
    print(report.summary())
    if any("live consumer groups of other processes" in line for line in report.context):
        print("\nnote: other processes' consumer groups were live on the benchmark's topics (they processed its "
              "events on the same cores); see the report's header and each section's CPU line")
    print(f"\nreport: {args.report} ({time.monotonic() - started:.0f} s)")
    return 1 if any(s.error for s in report.sections) or problems else 0


if __name__ == "__main__":
    sys.exit(main())
