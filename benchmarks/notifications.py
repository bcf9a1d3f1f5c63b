"""Benchmark 11: notifications — processor throughput vs a raw consume + decode loop, writes per 1,000 likes on
one hot post, and `GET /api/v1/notifications` p99 at half its saturation rate next to `/healthz`.

Throughput: like events produced once (half on one hot post, half spread over 200 posts of 200 authors, every
liker distinct; posts seeded in Cassandra), then as benchmark 3 (`benchmarks/pipeline_throughput.py`): the raw
consume + decode loop over exactly those offsets vs the real processor driven by the real loop in this process
until its group committed them. Writes: 1,000 likes on a fresh hot post handed to the processor as one batch,
counting the Cassandra requests (and rows) and Redis commands its sinks send (counting wrappers in
`sinks.notifications` and `sinks.notification_lists`, plus the one applied-mark pipeline); the naive baseline is
one write per like. API: one API process per core on one port (as benchmarks 7 and 8 serve theirs); closed loop
(64 connections) over the readers for the saturation rate, then open loop at half of it for the p99 (the
readers: the 201 authors, and 200 users nobody has notified); `/healthz` the same way on the same processes.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from benchmarks import api_reads, feeds_api
from benchmarks.cpu import stack_pids
from benchmarks.env import BenchEnv
from benchmarks.pipeline_throughput import GOAL, Clock, drive, produce, raw_consume
from benchmarks.report import Section, from_docstring
from benchmarks.stats import fmt_ms, fmt_rate, fmt_ratio, ratio, verdict
from photostream.settings import Settings
from producers.ids import new_id, now_ms
from sinks.cassandra import connect
from sinks.notifications import NotificationStore, WriteCounter
from streams.engine.records import Record
from streams.notifications import NotificationsProcessor
from streams.resources import Resources

NUMBER = 11
TITLE = "11. Notifications: processor throughput, writes per 1,000 hot likes, GET /notifications p99"
P99_GOAL_MS = 10.0
WRITES_GOAL = 10  # "a constant handful"
SPREAD_POSTS = 200


def _processor(settings: Settings, r: Resources, counter: WriteCounter | None = None) -> NotificationsProcessor:
    return NotificationsProcessor.on(r, NotificationStore(r.session, counter))


def seed_posts(settings: Settings, posts: dict[str, str]) -> None:
    """``post id -> author`` rows in ``posts`` (what the posts projector would have written)."""
    cluster, session = connect(settings)
    try:
        insert = session.prepare("INSERT INTO posts (post_id, author_id, caption, image_ids, visibility, created_at) "
                                 "VALUES (?, ?, 'bench', [], 'public', ?)")
        for post, author in posts.items():
            session.execute(insert, (post, author, now_ms()))
    finally:
        cluster.shutdown()


def seed_profiles(settings: Settings, user_ids: set[str]) -> None:
    """A profile for every user (as the profiles projector would have written): real readers see their actors'
    usernames, so the API's hydration must find them, not miss and fall back to Cassandra on every request."""
    from cassandra.concurrent import execute_concurrent_with_args

    cluster, session = connect(settings)
    try:
        insert = session.prepare("INSERT INTO users (user_id, username, display_name, updated_at) "
                                 "VALUES (?, ?, 'Bench', ?)")
        at = now_ms()
        execute_concurrent_with_args(session, insert, [(u, f"u{u[-12:]}", at) for u in user_ids], concurrency=64)
    finally:
        cluster.shutdown()


def like_records(hot: str, spread: list[str], count: int) -> list[dict[str, Any]]:
    at = now_ms()
    posts = [hot if i % 2 == 0 else spread[(i // 2) % len(spread)] for i in range(count)]
    return [{"event_id": new_id(), "occurred_at": at + i // 100, "post_id": post, "user_id": new_id(),
             "action": "like"} for i, post in enumerate(posts)]


async def count_writes(settings: Settings, hot: str, likes: int) -> tuple[WriteCounter, int]:
    """Cassandra requests/rows and Redis commands for ``likes`` likes on ``hot`` in one batch."""
    resources = Resources.open(settings)
    try:
        counter = WriteCounter()
        processor = _processor(settings, resources, counter)
        at = now_ms()
        batch = [Record("like-changed", 0, i, None, {"event_id": new_id(), "occurred_at": at + i // 10,
                                                     "post_id": hot, "user_id": new_id(), "action": "like"})
                 for i in range(likes)]
        await processor.process(batch, lambda record, error: None)
        return counter, processor._lists.commands + 1  # + the applied-mark pipeline
    finally:
        await resources.close()


def run(env: BenchEnv, quick: bool = False) -> Section:
    section = Section(TITLE, from_docstring(__doc__), ["measure", "notifications", "baseline", "ratio", "goal"])
    settings = env.with_app_id("notif")
    env.groups |= {f"{settings.app_id}.{NotificationsProcessor.name}"}
    events = 2_000 if quick else 10_000
    hot, hot_author = new_id(), new_id()
    spread = {new_id(): new_id() for _ in range(SPREAD_POSTS)}
    fresh_hot = new_id()
    seed_posts(settings, {hot: hot_author, fresh_hot: hot_author, **spread})

    clock = Clock(tuple(stack_pids(settings.stack_dir).values()))
    likes = like_records(hot, list(spread), events)
    seed_profiles(settings, {r["user_id"] for r in likes} | {hot_author, *spread.values()})
    start, end = produce(settings, "like-changed", likes)
    base = raw_consume(settings, clock, start, end)
    pipe = asyncio.run(drive(settings, clock, lambda r: _processor(settings, r), start, end))
    r = ratio(pipe.rate, base.rate)
    section.rows.append([f"throughput, {pipe.events:,} like events", fmt_rate(pipe.rate),
                         f"raw consume + decode: {fmt_rate(base.rate)}", fmt_ratio(r),
                         f"≥ {GOAL} — {verdict(r >= GOAL)}"])
    section.notes.append(f"throughput: {pipe.flushes} batches; half the likes on one post, half over "
                         f"{SPREAD_POSTS} posts; {pipe.events - events:,} foreign records in the range.")

    counter, redis_commands = asyncio.run(count_writes(settings, fresh_hot, 1_000))
    writes = counter.requests + redis_commands
    section.rows.append(["writes per 1,000 likes on one hot post (one batch)",
                         f"{writes} ({counter.requests} Cassandra requests carrying {counter.rows:,} rows, "
                         f"{redis_commands} Redis commands)", "one write per like: 1,000",
                         fmt_ratio(ratio(writes, 1000)), f"≤ {WRITES_GOAL} — {verdict(writes <= WRITES_GOAL)}"])

    # every author with notifications, and as many again nobody has notified yet (most users, most days)
    readers = [hot_author, *spread.values(), *(new_id() for _ in range(SPREAD_POSTS))]
    server_env = feeds_api.api_env(env, settings, env.subprocess_env(settings))
    path = "/api/v1/notifications?limit=20"
    targets = feeds_api.targets_file(env, settings, "notifications", readers, path)
    health = feeds_api.targets_file(env, settings, "healthz", ["none"], "/healthz")
    duration = 3.0 if quick else 8.0
    processes = os.cpu_count() or 1
    api = feeds_api.Servers(env, "api", processes, server_env, "/readyz")
    try:
        read = api_reads.saturate_then_half(api, targets, duration)
        healthz = api_reads.saturate_then_half(api, health, duration, rate=read.rate)
    finally:
        api.stop()
    section.notes += api_reads.problems("GET /notifications", read)
    section.rows += api_reads.rows("GET /notifications", processes, read, healthz, "/healthz", P99_GOAL_MS)
    section.summary.append(f"notifications: throughput ratio {fmt_ratio(r)} (goal ≥ {GOAL}); {writes} writes per "
                           f"1,000 hot likes; GET p99 {fmt_ms(read.at_half.latency.p99)} at {read.rate:.0f}/s")
    return section
