"""Faults survived, through real processes: Redis lost with its data, Cassandra paused, workers SIGKILLed.

The module runs its own worker and API (own app id seeded at the log end, own keyspace) against a Redis server
it starts itself and Cassandra behind a proxy it can pause, so no fault ever reaches the shared services. The
events are a random workload (follows, posts, likes, direct messages) published straight to the log; its
oracle says what every view must show once they are applied. Recovery times are printed (``-s``) for the
README; nothing asserts on them.

What is automatic and what is an SRE's command after Redis comes back empty:
- automatic: users' feeds (a read of a missing feed is answered from Cassandra and the feed rebuilt behind it),
  post, profile, privacy and count caches (read-through), the read limiter's buckets;
- ``photostream rebuild feeds|unread|hashtags|notifications``: celebrities' pull sets (a rebuilt feed lacks
  celebrity posts until then), badges, hashtag counts and notification lists live in Redis only as derived
  state; until the rebuild they under-count (a badge of 0, for instance). Logouts are not lost: revocations are
  durable, and Cassandra answers the check until the API copied them back (``sinks.revocations``).
While Redis is down, ``GET /feed`` and ``GET /users/{id}/status`` answer from Cassandra (the feed's token
revocation check skipped, reads only: ``api.auth.verify_access``; the badge's asked of Cassandra's ledger);
writes and the other reads answer 503.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from photostream.settings import Settings
from photostream.stack.migrate import drop_keyspace, migrate
from producers.ids import new_id
from producers.publisher import Publisher
from streams.consumer_groups import end_offsets, groups_of, seed_groups
from tests.integration.conftest import Process, auth, free_port, free_port_block, photostream
from tests.integration.fault_stack import (
    WORKLOAD_TOPICS,
    RedisServer,
    Workload,
    badge_of,
    comment_ids_of,
    drained,
    engagement_of,
    feed_of,
    metric_total,
    notifications_listed,
    requesters_of,
    senders_of,
    tagged_posts_of,
)
from tests.integration.kafka_read import parked_between
from tests.integration.tcp_proxy import TcpProxy
from tests.integration.waiting import wait_for

#: added to every workload's seed (``FAULT_SEED=7 bash scripts/test.sh tests/integration/test_faults.py``): the
#: suite runs the same three workloads each time; another offset runs three others, with their own interleavings
SEED_OFFSET = int(os.environ.get("FAULT_SEED", "0"))


@dataclass
class FaultStack:
    settings: Settings
    env: dict[str, str]
    redis: RedisServer
    proxy: TcpProxy
    worker: Process
    api: Process
    logs: Any

    @property
    def url(self) -> str:
        return self.api.ready_url.removesuffix("/readyz")

    def metrics(self, process: Process) -> str:
        return process.ready_url.rsplit("/", 1)[0] + "/metrics"

    def start_worker(self, name: str) -> Process:
        env = self.env | {"PHOTOSTREAM_WORKER_WEB_PORT": str(free_port_block()),
                          "PHOTOSTREAM_WORKER_DATA_DIR": str(self.logs / f"{name}-data")}
        return Process(["worker", "--processes", "1", "--loglevel", "warning"], env, self.logs / f"{name}.log",
                       f"http://127.0.0.1:{env['PHOTOSTREAM_WORKER_WEB_PORT']}/ready")


@pytest.fixture(scope="module")
def fault(settings: Settings, test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[FaultStack]:
    logs = tmp_path_factory.mktemp("faults")
    # everything started is stopped whether the tests ran or the set-up itself failed halfway (a Redis server
    # left behind by a failed set-up once outlived its pytest run)
    with contextlib.ExitStack() as started:
        redis = RedisServer(free_port(), logs / "redis-data", logs / "redis.log")
        started.callback(redis.stop)
        proxy = TcpProxy(("127.0.0.1", settings.cassandra_port))
        own = settings.model_copy(update={"app_id": f"{settings.app_id}-faults", "redis_url": redis.url,
                                          "cassandra_keyspace": f"{settings.cassandra_keyspace}_faults"})
        migrate(own)
        started.callback(drop_keyspace, own)
        groups = groups_of(own.app_id)
        seed_groups(own, groups, end_offsets(own, {t for ts in groups.values() for t in ts}))
        env = test_env | {"PHOTOSTREAM_APP_ID": own.app_id, "PHOTOSTREAM_REDIS_URL": redis.url,
                          "PHOTOSTREAM_CASSANDRA_KEYSPACE": own.cassandra_keyspace,
                          "PHOTOSTREAM_CASSANDRA_PORT": str(proxy.port), "PHOTOSTREAM_API_PORT": str(free_port())}
        stack = FaultStack(own, env, redis, proxy, None, None, logs)  # type: ignore[arg-type]
        stack.worker = stack.start_worker("worker-a")
        started.callback(lambda: stack.worker.stop())  # the worker in place at the end (tests restart it)
        stack.api = Process(["api"], env, logs / "api.log",
                            f"http://127.0.0.1:{env['PHOTOSTREAM_API_PORT']}/readyz")
        started.callback(stack.api.stop)
        started.callback(proxy.resume)  # first: the processes stop against a Cassandra they can reach
        yield stack


def report(what: str, **numbers: object) -> None:
    print(f"\n[faults] {what}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))


def notifications_of(api: str, settings: Settings, user: str) -> list[tuple[Any, ...]]:
    answer = httpx.get(f"{api}/api/v1/notifications", params={"limit": 100}, headers=auth(settings, user),
                       timeout=30)
    assert answer.status_code == 200, answer.text
    return [(n["id"], n["kind"], n["actor_count"], n["read"]) for n in answer.json()["items"]]


def hashtag_count(api: str, tag: str) -> int | str:
    answer = httpx.get(f"{api}/api/v1/hashtags/{tag}", timeout=30)
    return int(answer.json()["post_count"]) if answer.status_code == 200 else f"{answer.status_code} {answer.text}"


def assert_views_equal_oracle(fault: FaultStack, workload: Workload) -> int:
    """The hashtag's post count, badges, notifications (each one's exact actor count), pending follow requests,
    "photos of you", like and comment counts, comment threads and the people tagged on each post equal the
    oracle; feeds hold no post twice and none they should not. Returns how many posts feeds lack: the callers
    assert it is none."""
    oracle, api, settings = workload.oracle, fault.url, fault.settings
    assert hashtag_count(api, oracle.tag) == oracle.tagged_posts, "the hashtag's post count"
    missing = 0
    for user in oracle.users:
        ids, _ = feed_of(api, settings, user)
        assert len(ids) == len(set(ids)), f"a post twice in the feed of {user}"
        assert set(ids) <= oracle.feed(user), f"feed of {user}: posts it should not hold"
        missing += len(oracle.feed(user) - set(ids))
        assert senders_of(api, settings, user) == oracle.unread[user], f"badge of {user}"
        listed, expected = notifications_listed(api, settings, user), oracle.notifications(user)
        counts = {n: count for n, (count, _) in listed.items()}
        differing = {n: (listed.get(n), sorted(oracle.notified[user].get(n, ())))
                     for n in counts.keys() | expected.keys() if counts.get(n) != expected.get(n)}
        assert not differing, (f"notifications of {user} (id: (count, actors shown), the oracle's actors): "
                               f"{differing}; accounts deleted: {sorted(oracle.deleted)}")
        photos = tagged_posts_of(api, settings, user)
        assert len(photos) == len(set(photos)) and set(photos) == oracle.photos_of(user), f"photos of {user}"
        asking = requesters_of(api, settings, user)
        assert len(asking) == len(set(asking)) and set(asking) == oracle.requesters_of(user), f"requests to {user}"
    for post_id, author in oracle.authors.items():
        likes, comments, tagged = engagement_of(api, settings, post_id, author)
        assert (likes, comments) == (len(oracle.likes[post_id]), len(oracle.comments[post_id])), f"counts of {post_id}"
        assert tagged == oracle.tagged[post_id], f"people tagged on {post_id}"
        thread = comment_ids_of(api, settings, post_id, author)
        assert len(thread) == len(set(thread)) and set(thread) == oracle.comments[post_id], f"thread of {post_id}"
    return missing


# --- Redis lost ---------------------------------------------------------------------------------------------------

def test_redis_lost_with_its_data_views_come_back_equal(fault: FaultStack, publisher: Publisher) -> None:
    api, settings = fault.url, fault.settings
    workload = Workload(publisher, users=12, seed=13 + SEED_OFFSET, settings=fault.settings)
    workload.run(250)
    drained(settings, 120, "the fault worker to apply the workload")
    oracle = workload.oracle
    wait_for(lambda: hashtag_count(api, oracle.tag), lambda n: n == oracle.tagged_posts, 60, "the hashtag count")
    assert assert_views_equal_oracle(fault, workload) == 0  # live feeds, built by the fan-out: complete
    badges = {u: senders_of(api, settings, u) for u in oracle.users}
    notes = {u: notifications_of(api, settings, u) for u in oracle.users}
    assert any(notes.values()), "the workload's likes notified nobody"

    fault.redis.kill_and_wipe()
    try:
        lost = time.monotonic()
        # Redis down: the feed and the badge answer from Cassandra; writes and cache-only reads are a 503
        for user in oracle.users:
            ids, sources = feed_of(api, settings, user)
            assert sources == {"cassandra"}
            assert set(ids) == oracle.feed(user) and len(ids) == len(set(ids)), f"feed of {user} without Redis"
        assert all(senders_of(api, settings, u) == badges[u] for u in oracle.users)
        someone = oracle.users[0]
        assert badge_of(api, settings, someone).json()["online_status"] == "offline"
        write = httpx.post(f"{api}/api/v1/users/{oracle.users[1]}/follow", headers=auth(settings, someone), timeout=30)
        assert write.status_code == 503, write.text  # a token whose revocation cannot be checked may not write
        assert httpx.get(f"{api}/api/v1/hashtags/{oracle.tag}", timeout=30).status_code == 503
        degraded = metric_total(fault.url + "/metrics", "photostream_redis_degraded_total")
        assert degraded > 0
        assert fault.worker.proc.poll() is None

        fault.redis.start()  # empty
        fault.api.wait_http(fault.api.ready_url, timeout_s=60)
        restarted = time.monotonic()
        # automatic: a missing feed is answered at once (from Cassandra) and rebuilt into Redis behind the read
        for user in oracle.users:
            assert set(feed_of(api, settings, user)[0]) == oracle.feed(user)
        wait_for(lambda: {u: feed_of(api, settings, u)[1] for u in oracle.users},
                 lambda seen: all(sources == {"redis"} for sources in seen.values()), 60,
                 "every feed rebuilt into Redis")
        feeds_back = time.monotonic() - restarted
        # celebrities' pull sets and the set of celebrities come back by themselves too: a read that finds them
        # missing answers from Cassandra and rebuilds them behind it, so no post is missing at any point
        missing = sum(len(oracle.feed(u) - set(feed_of(api, settings, u)[0])) for u in oracle.users)
        assert missing == 0
        # the SRE's commands: badges, hashtag counts and notifications are derived state only Redis held
        rebuilt: dict[str, float] = {}
        for view in ("feeds", "unread", "hashtags", "notifications", "photo-tags"):
            started = time.monotonic()
            repaired = photostream(fault.env, "rebuild", view)
            rebuilt[view] = round(time.monotonic() - started, 1)
            assert repaired.returncode == 0, repaired.stdout + repaired.stderr
            checked = photostream(fault.env, "rebuild", view, "--check")
            assert checked.returncode == 0, checked.stdout + checked.stderr
        assert {u: senders_of(api, settings, u) for u in oracle.users} == badges
        assert {u: notifications_of(api, settings, u) for u in oracle.users} == notes
        assert assert_views_equal_oracle(fault, workload) == 0  # every view the oracle knows, rebuilt
        wait_for(lambda: hashtag_count(api, oracle.tag), lambda n: n == oracle.tagged_posts, 30,
                 "the rebuilt hashtag count")
        after_rebuild = {u: feed_of(api, settings, u) for u in oracle.users}
        assert all(sources == {"redis"} and set(ids) <= oracle.feed(u) for u, (ids, sources) in after_rebuild.items())
        still_missing = sum(len(oracle.feed(u) - set(ids)) for u, (ids, _) in after_rebuild.items())
        report("redis lost", events=oracle.published, users=len(oracle.users), posts=len(oracle.authors),
               outage_s=round(restarted - lost, 1), feeds_back_in_redis_s=round(feeds_back, 1),
               rebuild_s=rebuilt, degraded_requests=degraded, feed_items_missing_before_rebuild=missing,
               feed_items_missing_after_rebuild=still_missing)
        assert still_missing == 0
    except BaseException:
        restore_redis_views(fault)  # the tests after this one compare every view of this stack
        raise


def restore_redis_views(fault: FaultStack) -> None:
    """After a Redis-loss test that failed midway: Redis up and every view rebuilt from durable state, so one
    failure is reported once, not again by every later test that checks the whole namespace."""
    if fault.redis.proc is None or fault.redis.proc.poll() is not None:
        fault.redis.start()
    for view in ("feeds", "unread", "hashtags", "notifications", "photo-tags"):
        photostream(fault.env, "rebuild", view)


# --- Cassandra paused ---------------------------------------------------------------------------------------------

PAUSE_S = 20.0


def test_cassandra_paused_processors_wait_and_lose_nothing(fault: FaultStack, publisher: Publisher) -> None:
    api, settings = fault.url, fault.settings
    worker_metrics = fault.metrics(fault.worker)
    workload = Workload(publisher, users=10, seed=21 + SEED_OFFSET, settings=fault.settings)
    workload.run(80)
    drained(settings, 120, "the fault worker to apply the first events")
    failures = metric_total(worker_metrics, "photostream_batch_failures_total")
    # (this run's DLQs, not the worker's DLQ metric: other test runs park their own poison on the shared topics)
    dlqs = {f"{topic}.dlq" for topic in WORKLOAD_TOPICS}
    parked_before = end_offsets(settings, dlqs)
    pid = fault.worker.proc.pid

    fault.proxy.pause()
    paused = time.monotonic()
    workload.run(150)  # all of it lands while Cassandra hears nothing
    during = []
    while time.monotonic() - paused < PAUSE_S:  # the outage lasts PAUSE_S; the API is probed meanwhile
        uncached = httpx.get(f"{api}/api/v1/posts/{new_id()}", timeout=60)
        badge = badge_of(api, settings, workload.oracle.users[0])
        during.append((uncached.status_code, badge.status_code))
    assert {u for u, _ in during} == {503}, during  # a read that needs Cassandra: 503 with Retry-After
    assert {b for _, b in during} == {200}, during  # the badge: from Redis
    assert metric_total(worker_metrics, "photostream_batch_failures_total") > failures  # retrying
    fault.proxy.resume()
    resumed = time.monotonic()

    caught_up = drained(settings, 180, "the fault worker to apply what was published during the pause")
    assert fault.worker.proc.poll() is None and fault.worker.proc.pid == pid  # never crashed
    parked = parked_between(settings, parked_before, end_offsets(settings, dlqs))
    assert parked.isdisjoint((r.topic, r.partition, r.offset) for r in workload.records), parked  # none in a DLQ
    missing = assert_views_equal_oracle(fault, workload)
    report("cassandra paused", events_during_pause=150, pause_s=round(resumed - paused, 1),
           caught_up_after_resume_s=round(caught_up, 1),
           batch_retries=metric_total(worker_metrics, "photostream_batch_failures_total") - failures,
           feed_items_missing=missing)
    assert missing == 0


# --- workers SIGKILLed --------------------------------------------------------------------------------------------

RUN_S = 50.0
KILL_EVERY_S = 12.0
EVENTS_PER_S = 25
#: kills the run must see: the load goes on past RUN_S until they are done, for at most MAX_RUN_S (a restart waits
#: for its /ready: ~6 s with this test alone, ~23 s once in a whole suite on a slower machine, where only two
#: fitted in RUN_S)
KILLS = 3
MAX_RUN_S = 150.0  # (within the suite's 300 s a test, with the drain after it)


def test_workers_sigkilled_repeatedly_views_equal_the_oracle(fault: FaultStack, publisher: Publisher) -> None:
    """Two workers of one app id share every group (the feed's too); every KILL_EVERY_S one of them is
    SIGKILLed (no commit, no goodbye) and restarted, while events flow (RUN_S at EVENTS_PER_S, and on until
    KILLS kills were made).

    The kills and restarts run on the test's thread, the load on a helper thread: a process's
    ``PR_SET_PDEATHSIG`` (``tests.integration.conftest``) fires when the *thread* that spawned it exits, so a
    worker restarted from a helper thread is SIGTERMed as soon as that thread ends, and both groups' members
    were gone before the final drain (the first version of this test hung there until its timeout)."""
    settings = fault.settings
    second = fault.start_worker("worker-b")
    workers = [fault.worker, second]
    workload = Workload(publisher, users=15, seed=34 + SEED_OFFSET, settings=fault.settings)
    failed: list[BaseException] = []
    loaded = threading.Event()
    started = time.monotonic()

    kills: list[float] = []

    def load() -> None:
        try:
            while (elapsed := time.monotonic() - started) < RUN_S or (len(kills) < KILLS and elapsed < MAX_RUN_S):
                tick = time.monotonic()
                workload.run(EVENTS_PER_S)
                time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))  # pacing the load, not waiting for it
        except BaseException as exc:
            failed.append(exc)
        finally:
            loaded.set()

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    ready_s: list[float] = []
    try:
        while not loaded.wait(max(0.0, started + KILL_EVERY_S * (len(kills) + 1) - time.monotonic())):
            victim = workers[len(kills) % 2]
            victim.kill()
            kills.append(time.monotonic())
            victim.restart()  # returns once its /ready answers: every batch processor joined its group
            ready_s.append(time.monotonic() - kills[-1])
    finally:
        loaded.wait(MAX_RUN_S)
    thread.join()
    assert not failed, failed
    assert len(kills) >= KILLS and all(w.proc.poll() is None for w in workers)
    load_ended = time.monotonic()
    drained(settings, 120, "both workers to apply the run")
    drain_s, since_last_kill_s = time.monotonic() - load_ended, time.monotonic() - kills[-1]
    try:
        assert assert_views_equal_oracle(fault, workload) == 0  # each feed read across a page boundary
        for view in ("feeds", "unread", "notifications"):
            checked = photostream(fault.env, "rebuild", view, "--check")
            assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        second.stop()
    report("workers sigkilled", events=workload.oracle.published, users=len(workload.oracle.users),
           posts=len(workload.oracle.authors), run_s=round(load_ended - started), kills=len(kills),
           restart_ready_s=f"{min(ready_s):.1f}..{max(ready_s):.1f}", drained_after_load_s=round(drain_s, 1),
           drained_after_last_kill_s=round(since_last_kill_s, 1))
