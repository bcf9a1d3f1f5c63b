"""Benchmark 15: a client's read-your-writes while the workers drain a backlog.

A real `photostream api` and real workers, in two layouts, each on fresh consumer groups seeded at the log end:
**one pool** (`photostream worker` with `WORKER_LIVE_PROCESSORS` empty: every processor in each of one process
per core) and **a live lane**, the default since stop 55 (`photostream worker` as it comes:
`streams.workers.process_plan` puts `posts,profiles,feeds`, what clients wait on after a post, in one more
process; every other processor in one process per core). Fresh users (registered, a photo
uploaded and completed through the API) post through the API at a steady pace, one post each; a probe is timed
from sending `POST /posts` until `GET /posts/{id}?after=TOKEN` answers 200 without the `pending` mark: what a
client waits after posting before its post's page opens. Where that time goes: the `POST` answer, and the moments
each applier of the post (`api.consistency.APPLIERS`: the posts projector, which the post page waits for; the
feeds processor, which the author's home feed waits for too) had applied it (their applied-offset marks, polled
every millisecond beside the read). Baseline: the same probes, same processes, with the workers idle,
in the same run. Then a backlog is produced in one burst (a bare producer, pre-encoded records) onto the topics
the other processors read — likes and comments on 500 posts seeded in Cassandra, tag memberships, unsent messages
— and the same probes run while the workers drain it. A probe counts as answered during the drain unless a reading
of the groups' lag (about twice a second) had already found the backlog drained; the section says how many records
were left and how long the drain took. The backlog holds no `post-created`: a new post queued behind older posts
in its partition waits for them whatever the engine does (Kafka orders a partition); what this measures is whether
the processors draining the other topics starve the ones a client waits on (in one pool they share each process's
event loop, and every layout shares the two cores with Cassandra). Goal (the engine issue): p99 under 1 s while a
backlog drains.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import redis

from api.auth import mint_access_token
from api.consistency import APPLIERS, ConsistencyToken
from benchmarks.env import AppProcess, BenchEnv, BenchError
from benchmarks.kafka_tools import committed, end_offsets, groups_of, seed_groups
from benchmarks.pipeline_throughput import produce
from benchmarks.processors_throughput import AUTHORS, POSTS, seed_listed_posts
from benchmarks.report import Section, from_docstring
from benchmarks.stats import Distribution, fmt_ms, fmt_rate, fmt_ratio, ratio, verdict
from benchmarks.workload import TagWorkload
from photostream.demo import sample_photo
from photostream.settings import Settings
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher
from sinks import keys
from streams.workers import ready_urls_started

NUMBER = 15
TITLE = "15. Read-your-writes while a backlog drains"
GOAL_P99_MS = 1000.0
#: probes per phase and their pace (posts per second)
PROBES, PROBE_RATE = 60, 2.0
#: the backlog: (topic, events); each event is applied by one to three processors
BACKLOG = (("like-changed", 150_000), ("comment-added", 60_000), ("post-hashtag", 150_000),
           ("ON_MSG_UNSENT", 90_000))
#: how long to wait for the worker to finish the backlog after the probes (for the drain figure)
DRAIN_TIMEOUT_S = 240.0
#: how long one probe may wait before it counts as lost
PROBE_TIMEOUT_S = 30.0


@dataclass
class Probe:
    """One post's read-your-writes time, and what the worker still had to apply when it was answered."""

    latency_ms: float
    #: of which the ``POST /posts`` answer (the rest is the read waiting for the worker)
    post_ms: float
    #: when each applier of the post (``api.consistency.APPLIERS``) had applied it
    applied_ms: dict[str, float]
    #: the lag watch's latest reading when the probe was answered (-1: none yet), and whether no reading had
    #: yet found the backlog drained (so the probe was answered while it drained)
    left_after: int = 0
    while_draining: bool = False


@dataclass
class Author:
    """A posting user: their token and a completed photo their post shows."""

    user_id: str
    headers: dict[str, str]
    image_id: str


@dataclass
class LagWatch:
    """Samples the worker's total lag (records of its groups' topics not yet committed) about twice a second.

    The topics' end offsets are read once, after the backlog was produced: what the groups must commit to
    have drained it (the probes' few records after that are not waited for)."""

    settings: Settings
    groups: dict[str, tuple[str, ...]]
    ends: dict[tuple[str, int], int]
    samples: list[tuple[float, int]] = field(default_factory=list)
    #: set at the first reading with nothing left; ``drained_at`` is that reading's time
    drained: threading.Event = field(default_factory=threading.Event)
    drained_at: float = math.nan
    _halt: threading.Event = field(default_factory=threading.Event)

    def left(self) -> int:
        total = 0
        for group, topics in self.groups.items():
            done = committed(self.settings, group)
            total += sum(max(0, end - max(done.get(tp, 0), 0)) for tp, end in self.ends.items() if tp[0] in topics)
        return total

    def run(self) -> None:
        while not self._halt.is_set():
            at, left = time.monotonic(), self.left()
            self.samples.append((at, left))
            if left == 0 and not self.drained.is_set():
                self.drained_at = at
                self.drained.set()
            self._halt.wait(0.5)

    def latest(self) -> int:
        return self.samples[-1][1] if self.samples else -1

    def stop(self) -> None:
        self._halt.set()


def _photo_of(api: httpx.Client, headers: dict[str, str]) -> str:
    """A photo uploaded to S3 with the pre-signed POST and completed, as a client does before posting."""
    ticket = api.post("/uploads", headers=headers, json={"content_type": "image/png"})
    ticket.raise_for_status()
    fields = ticket.json()
    httpx.post(fields["upload_url"], data=fields["fields"], files={"file": ("probe.png", sample_photo(), "image/png")},
               timeout=30).raise_for_status()
    api.post(f"/uploads/{fields['image_id']}/complete", headers=headers).raise_for_status()
    return str(fields["image_id"])


def register_authors(settings: Settings, api: httpx.Client, count: int) -> list[Author]:
    """``count`` users, each with a completed photo: one post each, as people post (a user may post 5 times
    a minute, so one author posting twice a second would be refused)."""
    users = [new_id() for _ in range(count)]
    with Publisher(settings) as publisher:
        for user in users:
            publisher.publish(events.user_registered(user_id=user, username=f"probe{user[-8:]}",
                                                     display_name="Probe"))
    authors = []
    for user in users:
        headers = {"Authorization": f"Bearer {mint_access_token(settings, user)}"}
        authors.append(Author(user, headers, _photo_of(api, headers)))
    return authors


def probe_once(api: httpx.Client, marks: redis.Redis[bytes], author: Author, number: int,
               watch: LagWatch | None = None) -> Probe:
    """Milliseconds from sending the post until the API serves its page with read-your-writes, until the post was
    accepted, and until each applier of ``post-created`` had applied it (their applied-offset marks, polled every
    millisecond by a thread of its own while the page is read: the page waits for the posts projector only, the
    home feed for the feeds processor too). With ``watch``: its lag when the page was served."""
    started = time.perf_counter()
    created = api.post("/posts", headers=author.headers,
                       json={"caption": f"backlog probe {number}", "image_ids": [author.image_id]})
    if created.status_code != 202:
        raise BenchError(f"POST /posts answered {created.status_code}: {created.text[:300]}")
    post = created.json()
    accepted_ms = (time.perf_counter() - started) * 1000
    deadline = started + PROBE_TIMEOUT_S
    token = ConsistencyToken.decode(post["token"])
    applied: dict[str, float] = {}
    watching = threading.Thread(target=_watch_marks, args=(marks, token, started, deadline, applied), daemon=True)
    watching.start()
    served_ms, left, draining = math.nan, 0, False
    while time.perf_counter() < deadline:
        seen = api.get(f"/posts/{post['id']}", params={"after": post["token"]}, headers=author.headers)
        if seen.status_code == 200 and seen.headers.get("x-photostream-consistency") != "pending":
            served_ms = (time.perf_counter() - started) * 1000
            if watch is not None:
                left, draining = watch.latest(), not watch.drained.is_set()
            break
    watching.join()
    if math.isnan(served_ms) or len(applied) < len(APPLIERS["post-created"]):
        raise BenchError(f"probe {number}: the post was not served and applied within {PROBE_TIMEOUT_S:g} s")
    return Probe(served_ms, accepted_ms, applied, left, draining)


def _watch_marks(marks: redis.Redis[bytes], token: ConsistencyToken, started: float, deadline: float,
                 applied: dict[str, float]) -> None:
    """Fill ``applied`` with the moment (ms after ``started``) each applier's mark reached the token's offset."""
    for consumer in APPLIERS["post-created"]:
        key = keys.applied_offsets(consumer, "post-created")
        while int(marks.hget(key, str(token.partition)) or -1) < token.offset:
            if time.perf_counter() >= deadline:
                return
            time.sleep(0.001)  # (polling a mark at the harness's resolution)
        applied[consumer] = (time.perf_counter() - started) * 1000


def probe_paced(api: httpx.Client, marks: redis.Redis[bytes], authors: list[Author], first: int,
                watch: LagWatch | None = None) -> list[Probe]:
    """:data:`PROBES` probes at :data:`PROBE_RATE`, by ``authors[first:]``; each one's lag when answered (if
    watched)."""
    probes: list[Probe] = []
    start = time.perf_counter()
    for i in range(PROBES):
        wait = start + i / PROBE_RATE - time.perf_counter()
        if wait > 0:
            time.sleep(wait)  # (pacing the load, not synchronising with it)
        probes.append(probe_once(api, marks, authors[first + i], first + i, watch))
    return probes


def backlog_records(run_id: str, posts: list[str]) -> dict[str, list[dict[str, Any]]]:
    tags = TagWorkload(run_id)
    count = dict(BACKLOG)
    return {
        "like-changed": [events.like_changed(post_id=posts[i % POSTS], user_id=new_id(), action="like",
                                             post_author_id=AUTHORS[i % POSTS]).value
                         for i in range(count["like-changed"])],
        "comment-added": [events.comment_added(post_id=posts[i % POSTS], user_id=new_id(), text=f"nice #{i}",
                                               post_author_id=AUTHORS[i % POSTS]).value
                          for i in range(count["comment-added"])],
        "post-hashtag": tags.post_hashtag_records(count["post-hashtag"]),
        "ON_MSG_UNSENT": [events.message_unsent(src=new_id(), dest=new_id(), msg_id=new_id()).value
                          for _ in range(count["ON_MSG_UNSENT"])],
    }


@dataclass(frozen=True)
class Pool:
    """Worker processes started with one command (``photostream worker``, one process per core and the live
    lane's): a label, the settings it is given and how the report names it."""

    label: str
    settings: tuple[tuple[str, str], ...] = ()
    described: str = "every processor, one per core process(es)"


@dataclass(frozen=True)
class Layout:
    name: str
    pools: tuple[Pool, ...]


#: what clients wait on after a post, in the live lane by default (``WORKER_LIVE_PROCESSORS``)
LIVE = ", ".join(Settings.model_fields["worker_live_processors"].default)
LAYOUTS = (
    Layout("one pool", (Pool("worker", settings=(("PHOTOSTREAM_WORKER_LIVE_PROCESSORS", ""),)),)),
    Layout("live lane", (Pool("worker", described=f"{LIVE} in one process, every other processor in one per "
                                                   "core"),)),
)


@dataclass
class Phase:
    """One layout's probes, idle and while its backlog drained."""

    layout: Layout
    idle: list[Probe]
    busy: list[Probe]
    watch: LagWatch
    produced_at: float
    produced_s: float


def start_pools(env: BenchEnv, settings: Settings, layout: Layout) -> tuple[dict[str, str], list[AppProcess]]:
    """The layout's workers on fresh groups seeded at the log end, and the environment an API beside them uses."""
    groups = groups_of(settings.app_id)
    env.groups |= set(groups)
    seed_groups(settings, groups, end_offsets(settings, {t for ts in groups.values() for t in ts}))
    api_env = env.subprocess_env(settings)
    workers = []
    for pool in layout.pools:
        pool_env = env.subprocess_env(settings) | dict(pool.settings)
        workers.append(env.start(f"worker-{pool.label}", ["worker", "--loglevel", "warning"], pool_env,
                                 ready_urls_started(pool_env)))
    return api_env, workers


def measure(env: BenchEnv, layout: Layout, posts: list[str]) -> Phase:
    settings = env.with_app_id(f"backlog-{layout.name.replace(' ', '-')}")
    records = backlog_records(env.run_id, posts)  # (built before the clock: the SDK's cost is benchmark 1's)
    api_env, workers = start_pools(env, settings, layout)
    api = env.start("api-backlog", ["api"], api_env, f"http://127.0.0.1:{api_env['PHOTOSTREAM_API_PORT']}/readyz")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{api_env['PHOTOSTREAM_API_PORT']}/api/v1",
                          timeout=PROBE_TIMEOUT_S) as client, redis.Redis.from_url(settings.redis_url) as marks:
            authors = register_authors(settings, client, 2 * PROBES + 1)
            probe_once(client, marks, authors[-1], -1)  # warm-up: connections, prepared statements
            idle = probe_paced(client, marks, authors, 0)
            produced_at = time.monotonic()
            for topic, batch in records.items():
                produce(settings, topic, batch)
            produced_s = time.monotonic() - produced_at
            watch = LagWatch(settings, groups_of(settings.app_id), end_offsets(settings, [t for t, _ in BACKLOG]))
            sampler = threading.Thread(target=watch.run, name="lag-watch", daemon=True)
            sampler.start()
            try:
                busy = probe_paced(client, marks, authors, PROBES, watch)
                watch.drained.wait(max(0.0, produced_at + DRAIN_TIMEOUT_S - time.monotonic()))
            finally:
                watch.stop()
                sampler.join(timeout=10)
    finally:
        env.stop(api)
        for worker in workers:
            env.stop(worker)
    return Phase(layout, idle, busy, watch, produced_at, produced_s)


def run(env: BenchEnv) -> Section:
    section = Section(TITLE, from_docstring(__doc__),
                      ["layout · post → read-your-writes", "while the backlog drains", "worker idle (baseline)",
                       "ratio", f"goal p99 < {GOAL_P99_MS:g} ms"])
    posts = [new_id() for _ in range(POSTS)]
    seed_listed_posts(env.settings, dict(zip(posts, AUTHORS, strict=True)))
    for layout in LAYOUTS:
        _report(section, measure(env, layout, posts))
    section.notes.append(f"{PROBES} probes per phase at {PROBE_RATE:g}/s, one at a time; a probe counts while the "
                         "backlog drains if no reading of the groups' lag had yet found it drained when it was "
                         "answered")
    section.notes.append("the post page waits for the posts projector (`api.consistency.POST_PAGES`); the rows "
                         "'applied by `feeds`' are when the author's home feed read with the same token would have "
                         "the post (its followers' feeds at the same moment)")
    return section


def _report(section: Section, phase: Phase) -> None:
    idle, busy, watch, name = phase.idle, phase.busy, phase.watch, phase.layout.name
    counted = [p for p in busy if p.while_draining]
    during = Distribution.of([p.latency_ms for p in counted])
    base = Distribution.of([p.latency_ms for p in idle])
    for label in ("p50", "p90", "p99", "max"):
        mine, theirs = getattr(during, label), getattr(base, label)
        goal = verdict(mine < GOAL_P99_MS) if label == "p99" and counted else ""
        section.rows.append([f"{name} · latency {label}", fmt_ms(mine), fmt_ms(theirs), fmt_ratio(ratio(mine, theirs)),
                             goal])
    posting, idle_posting = (Distribution.of([p.post_ms for p in probes]) for probes in (counted, idle))
    section.rows.append([f"{name} · of which `POST /posts` p50 / p99", f"{fmt_ms(posting.p50)} / "
                         f"{fmt_ms(posting.p99)}", f"{fmt_ms(idle_posting.p50)} / {fmt_ms(idle_posting.p99)}", "", ""])
    for consumer in APPLIERS["post-created"]:
        busy_at, idle_at = (Distribution.of([p.applied_ms[consumer] for p in probes]) for probes in (counted, idle))
        section.rows.append([f"{name} · of which applied by `{consumer}` p50 / p99",
                             f"{fmt_ms(busy_at.p50)} / {fmt_ms(busy_at.p99)}",
                             f"{fmt_ms(idle_at.p50)} / {fmt_ms(idle_at.p99)}", "", ""])
    section.rows.append([f"{name} · probes counted", f"{len(counted)} of {len(busy)}", f"{len(idle)}", "", ""])
    total = sum(n for _, n in BACKLOG)
    first_left = watch.samples[0][1] if watch.samples else -1
    pools = "; ".join(f"{pool.label}: {pool.described}" for pool in phase.layout.pools)
    section.notes.append(
        f"{name} ({pools}): backlog of {', '.join(f'{n:,} {t}' for t, n in BACKLOG)} ({total:,} records, produced "
        f"in {phase.produced_s:.1f} s); {first_left:,} records still to apply across the worker's groups at the "
        f"first reading (a record read by three processors counts three times), {busy[-1].left_after:,} when the "
        "last probe was answered")
    drained_s = watch.drained_at - phase.produced_at
    if math.isnan(drained_s):
        section.notes.append(f"{name}: the backlog was not drained {DRAIN_TIMEOUT_S:g} s after it was produced "
                             f"({watch.latest():,} left)")
    else:
        section.notes.append(f"{name}: drained {drained_s:.1f} s after the burst began "
                             f"({fmt_rate(first_left / (watch.drained_at - watch.samples[0][0]))} group-records "
                             "applied from the first reading until none was left)")
    if counted:
        section.summary.append(f"backlog, {name}: post → read-your-writes p99 {fmt_ms(during.p99)} while "
                               f"{first_left:,} records drained (idle {fmt_ms(base.p99)}; goal < 1 s: "
                               f"{'met' if during.p99 < GOAL_P99_MS else 'missed'})")
