"""Benchmark 13: the other batch processors' throughput vs a raw consume + decode loop on their own input.

Each processor is built exactly as the worker builds it (``streams.batch_tasks.build_processors``), its input
produced once (valid events of a realistic shape: likes and comments over 500 posts; blocks of accounts that
never posted, by those posts' authors, the posts seeded in Cassandra; follow requests, presence flips and people
tags between distinct users), then measured as benchmark 3 measures the hashtag
counter (``benchmarks.pipeline_throughput``): the raw consume + decode loop over exactly those offsets vs the
real processor driven by the real ``BatchLoop`` in this process until its group committed them. First row: the
engine alone, a processor that applies nothing driven the same way over the likes: what the loop itself costs
(decoding, the id and placement checks every record gets, records, commits), the ceiling of every processor's
ratio before it writes anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from benchmarks.cassandra_load import ceiling_note, measure_ceiling
from benchmarks.cpu import stack_pids
from benchmarks.env import BenchEnv
from benchmarks.notifications import seed_posts
from benchmarks.pipeline_throughput import GOAL, Clock, _rows, drive, produce, raw_consume
from benchmarks.report import Section, from_docstring
from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from sinks.cassandra import connect
from streams.batch_tasks import build_processors
from streams.engine.records import BatchProcessor, Record, Reject
from streams.resources import Resources

NUMBER = 13
TITLE = "13. Every other batch processor: throughput vs raw consume + decode"
POSTS = 500

Workload = Callable[[int, list[str]], dict[str, Any]]
#: the author of post *i* (likes and comments name it, as the API's do: the processors then check each against
#: the blocks standing between the sender and the author, and that read is in the figures)
AUTHORS = [new_id() for _ in range(POSTS)]

#: processor name -> (its input topic, the i-th event of its workload over ``POSTS`` post ids)
WORKLOADS: dict[str, tuple[str, Workload]] = {
    "popularity": ("like-changed", lambda i, posts: events.like_changed(
        post_id=posts[i % len(posts)], user_id=new_id(), action="like",
        post_author_id=AUTHORS[i % len(posts)]).value),
    "comments": ("comment-added", lambda i, posts: events.comment_added(
        post_id=posts[i % len(posts)], user_id=new_id(), text=f"lovely light #{i}",
        post_author_id=AUTHORS[i % len(posts)]).value),
    # authors blocking accounts that never posted (the usual block): what the blocked person did to the
    # author's posts is read, and nothing of the author's (see sinks.block_effects)
    "safety": ("block-changed", lambda i, posts: events.block_changed(
        actor_id=AUTHORS[i % len(posts)], target_id=new_id(), action="on").value),
    "follow_requests": ("follow-requested", lambda i, posts: events.follow_requested(
        follower_id=new_id(), followee_id=new_id(), action="request").value),
    "presence": ("presence-changed", lambda i, posts: events.presence_changed(
        user_id=new_id(), status="online" if i % 2 == 0 else "offline").value),
    "photo_tags": ("photo-tag-changed", lambda i, posts: events.photo_tag_changed(
        post_id=posts[i % len(posts)], image_id=new_id(), tagger_id=new_id(), tagged_id=new_id(), action="add",
        x=0.5, y=0.5).value),
}


def seed_listed_posts(settings: Settings, posts: dict[str, str]) -> None:
    """``post id -> author`` rows in ``posts`` and ``posts_by_author`` (what the posts projector writes)."""
    seed_posts(settings, posts)
    cluster, session = connect(settings)
    try:
        insert = session.prepare("INSERT INTO posts_by_author (author_id, post_id, visibility) VALUES (?, ?, 'public')")
        for post, author in posts.items():
            session.execute(insert, (author, post))
    finally:
        cluster.shutdown()


class EngineAlone:
    """A processor that applies nothing (see the module docstring)."""

    name = "engine-alone"
    topics: tuple[str, ...] = ("like-changed",)
    flush_interval_s = 0.0

    async def process(self, batch: list[Record], reject: Reject) -> None:
        return None


def _built(settings: Settings, name: str) -> Callable[[Resources], BatchProcessor]:
    def make(resources: Resources) -> BatchProcessor:
        [processor] = build_processors(settings, resources, [name])
        return processor
    return make


def run(env: BenchEnv, events_each: int) -> Section:
    section = Section(TITLE, from_docstring(__doc__),
                      ["processor", "input topic", "events", "processor", "raw consume + decode (baseline)", "ratio",
                       f"goal ≥ {GOAL}"])
    settings = env.with_app_id("procs")
    env.groups |= {f"{settings.app_id}.{name}" for name in [*WORKLOADS, EngineAlone.name]}
    clock = Clock(tuple(stack_pids(settings.stack_dir).values()))
    posts = [new_id() for _ in range(POSTS)]
    seed_listed_posts(settings, dict(zip(posts, AUTHORS, strict=True)))
    ceiling = measure_ceiling(settings)
    section.notes.append(ceiling_note(ceiling))
    for name, (topic, workload) in WORKLOADS.items():
        start, end = produce(settings, topic, [workload(i, posts) for i in range(events_each)])
        base = raw_consume(settings, clock, start, end)
        if name == "popularity":  # (the likes: the engine's floor on the same records, same baseline)
            alone = asyncio.run(drive(settings, clock, lambda _: EngineAlone(), start, end))
            _rows(section, "engine alone (applies nothing)", topic, base, alone)
        pipe = asyncio.run(drive(settings, clock, _built(settings, name), start, end))
        _rows(section, name, topic, base, pipe, ceiling)
    return section
