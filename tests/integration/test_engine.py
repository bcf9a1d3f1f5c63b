"""The batch engine with several workers, through the real stack: co-partitioned assignment, a fenced
retry loop after its partitions moved, and exact engagement counts across a SIGKILL of one of two workers."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field

import httpx
import pytest
from confluent_kafka import Consumer, Producer

from photostream.contracts.codec import EventCodec
from photostream.kafka_config import client_config
from photostream.lag import consumer_lag
from photostream.settings import Settings
from photostream.stack.migrate import drop_keyspace, migrate
from producers import events
from producers.ids import new_id
from producers.partitioning import partition_of
from producers.publisher import Publisher, PublishResult
from sinks.cassandra import connect
from streams.batch_tasks import BATCH_PROCESSORS, LiveLoops
from streams.consumer_groups import end_offsets, groups_of, seed_groups
from streams.engine.consumer import consumer_config
from streams.engine.loop import BatchLoop
from streams.engine.records import Record, Reject
from streams.hashtags.popularity import PopularityUpdater
from streams.workers import EXIT_MISCONFIGURED
from tests.integration.conftest import Process, free_port
from tests.integration.waiting import wait_for

ENGAGEMENT_TOPICS = ("like-changed", "comment-added")
TP = tuple[str, int]


def assignment_of(consumer: Consumer) -> set[TP]:
    return {(str(p.topic), int(p.partition)) for p in consumer.assignment()}


def test_partition_i_of_every_input_topic_has_one_owner(settings: Settings) -> None:
    group = f"{settings.app_id}.co-partition-probe"
    members = [Consumer(consumer_config(settings, group)) for _ in range(2)]
    try:
        for member in members:
            member.subscribe(list(ENGAGEMENT_TOPICS))

        def assignments() -> list[set[TP]]:
            for member in members:  # both must serve the rebalance
                member.consume(100, 0.2)
            return [assignment_of(m) for m in members]

        owned = wait_for(assignments, lambda a: all(a) and sum(map(len, a)) == 8, 60, "both members assigned")
    finally:
        for member in members:
            member.close()
    for partitions in owned:
        by_topic = {t: {p for tt, p in partitions if tt == t} for t in ENGAGEMENT_TOPICS}
        assert by_topic["like-changed"] == by_topic["comment-added"], owned


@dataclass
class Attempt:
    started: float
    partitions: set[int]
    succeeded: bool


@dataclass
class FlakyStore:
    """A processor whose store is down until told otherwise; it remembers every attempt to write.

    Its batches accumulate for 2 s: the tests need the first batch, the one retried while the store is down, to
    hold the record of every partition, and a batch being retried takes in no later record (they wait for the
    next batch). With 0.2 s, a fresh clone's suite once formed it before one partition's record was fetched, and
    the loop never retried all four partitions."""

    name: str = "fence-probe"
    topics: tuple[str, ...] = ENGAGEMENT_TOPICS
    flush_interval_s: float = 2.0
    down: bool = True
    attempts: list[Attempt] = field(default_factory=list)

    async def process(self, batch: list[Record], reject: Reject) -> None:
        self.attempts.append(Attempt(time.monotonic(), {r.partition for r in batch}, not self.down))
        if self.down:
            raise ConnectionError("store unreachable")


def probed(settings: Settings, suffix: str) -> tuple[Settings, FlakyStore, str, dict[int, int]]:
    """A fence probe's settings (its own app id; retries at most a second apart, so a test waits on attempts,
    not on a growing backoff), its store, its group seeded at the log end, and one like produced on every
    partition of ``like-changed`` (partition → its offset)."""
    fence = settings.model_copy(update={"app_id": f"{settings.app_id}-{suffix}", "batch_retry_backoff_max_s": 1.0})
    store = FlakyStore()
    group = f"{fence.app_id}.{store.name}"
    seed_groups(settings, {group: ENGAGEMENT_TOPICS}, end_offsets(settings, ENGAGEMENT_TOPICS))
    producer = Producer(client_config(settings))
    codec = EventCodec()
    offsets: dict[int, int] = {}

    def delivered(error: object, message: object) -> None:
        assert error is None, error
        offsets[message.partition()] = message.offset()  # type: ignore[attr-defined]

    for partition in range(4):  # one record on every partition: whichever half moves, it had work pending
        post_id = next(p for p in iter(new_id, None) if partition_of(p.encode(), 4) == partition)  # (its own)
        value = events.like_changed(post_id=post_id, user_id=new_id(), action="like").value
        producer.produce("like-changed", codec.encode("like-changed", value), post_id.encode(), partition=partition,
                         on_delivery=delivered)
    assert producer.flush(10) == 0 and len(offsets) == 4
    return fence, store, group, offsets


async def test_a_loop_retrying_a_failing_store_writes_nothing_for_partitions_it_lost(
    settings: Settings, publisher: Publisher
) -> None:
    fence, store, group, _ = probed(settings, "fence")
    loop = BatchLoop(fence, store, publisher)
    running = asyncio.create_task(loop.run(batch_max=1000))
    newcomer = Consumer(consumer_config(settings, group))
    moved_at: list[float] = []
    try:
        await wait_until(lambda: {p for a in store.attempts for p in a.partitions} == {0, 1, 2, 3}, 60,
                         "the first loop retrying all four partitions")
        newcomer.subscribe(list(ENGAGEMENT_TOPICS),
                           on_assign=lambda c, parts: moved_at.append(time.monotonic()) if parts else None)
        await wait_until(lambda: (newcomer.consume(100, 0.1), moved_at)[1] != [], 60,
                         "the second consumer to be assigned (the first must serve the rebalance mid-retry)")
        taken = {p for t, p in assignment_of(newcomer) if t == "like-changed"}
        kept = {0, 1, 2, 3} - taken
        await wait_until(lambda: sum(a.started > moved_at[0] for a in store.attempts) >= 2, 60,
                         "two more retries after the move")
        store.down = False

        def written() -> set[int]:
            return set().union(*(a.partitions for a in store.attempts if a.succeeded and a.started > moved_at[0]))

        # every kept partition's record is written once the store is back, though not always in the first batch
        # that succeeds: a record the rebalance rewound comes back in a later one (a fresh clone's suite saw the
        # first success hold partition 3's record alone, and partition 2's follow)
        await wait_until(lambda: written() >= kept, 60, "the store to recover and the kept partitions to be written")
        after = [a for a in store.attempts if a.started > moved_at[0]]
        assert taken and all(a.partitions <= kept for a in after), (taken, after)
        assert written() == kept
    finally:
        loop.stop()
        await running
        newcomer.close()


async def test_a_loop_stopped_while_its_store_is_down_stops_at_once_and_commits_nothing(
    settings: Settings, publisher: Publisher
) -> None:
    """A worker shutting down during a store outage kept retrying until the store came back (the test above hung
    in its clean-up for five minutes once, which hid why it had failed)."""
    fence, store, group, produced = probed(settings, "halt")
    fence = fence.model_copy(update={"batch_retry_backoff_max_s": 30.0})  # a retry the stop must not wait out
    loop = BatchLoop(fence, store, publisher)
    running = asyncio.create_task(loop.run(batch_max=1000))
    try:
        await wait_until(lambda: {p for a in store.attempts for p in a.partitions} == {0, 1, 2, 3}, 60,
                         "the loop retrying all four partitions")
        await wait_until(lambda: len(store.attempts) >= 3, 60, "the backoff to grow past a second")
    finally:
        loop.stop()
        stopped_at = time.monotonic()
        await asyncio.wait_for(running, 10)
    assert time.monotonic() - stopped_at < 1  # one poll step, not the 2 s then 4 s waits ahead of it
    assert not any(a.succeeded for a in store.attempts)
    committed = {r.partition: r.committed for r in consumer_lag(settings, group) if r.topic == "like-changed"}
    assert all(committed[p] <= offset for p, offset in produced.items()), (committed, produced)


async def wait_until(done: object, timeout_s: float, what: str) -> None:
    """``wait_for`` for a coroutine test: the probe runs on a thread, so the loop under test keeps running."""
    await asyncio.to_thread(wait_for, done, bool, timeout_s, what)  # type: ignore[arg-type]


# --- two workers, one SIGKILLed, while likes and comments for the same posts stream in ------------------------

@dataclass
class EngagementModel:
    """What each post's counts must be: the same transitions the processor applies, in publish order."""

    likes: dict[str, dict[str, bool]] = field(default_factory=dict)
    comments: dict[str, set[str]] = field(default_factory=dict)

    def counts(self, post_id: str) -> tuple[int, int]:
        return sum(self.likes.get(post_id, {}).values()), len(self.comments.get(post_id, set()))


class EngagementStream:
    """A background publisher of likes, unlikes, duplicate likes and (re-sent) comments for a few posts."""

    def __init__(self, publisher: Publisher, posts: list[str], per_tick: int = 40) -> None:
        self.publisher, self.posts, self.per_tick = publisher, posts, per_tick
        self.model = EngagementModel()
        self.published = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._rng = random.Random(7)
        self.error: BaseException | None = None

    def __enter__(self) -> EngagementStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        if self.error:
            raise self.error

    def _next(self) -> events.Event:
        post = self._rng.choice(self.posts)
        likes = self.model.likes.setdefault(post, {})
        comments = self.model.comments.setdefault(post, set())
        roll = self._rng.random()
        if roll < 0.15 and likes:  # unlike, or a re-sent like: both must count exactly
            user = self._rng.choice(sorted(likes))
            action = "unlike" if likes[user] and roll < 0.1 else "like"
            likes[user] = action == "like"
            return events.like_changed(post_id=post, user_id=user, action=action)  # type: ignore[arg-type]
        if roll < 0.2 and comments:
            return events.comment_added(post_id=post, user_id=new_id(), text="again",
                                        comment_id=self._rng.choice(sorted(comments)))
        if roll < 0.5:
            comment = events.comment_added(post_id=post, user_id=new_id(), text="nice")
            comments.add(comment.value["comment_id"])
            return comment
        user = new_id()
        likes[user] = True
        return events.like_changed(post_id=post, user_id=user, action="like")

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                futures: list[Future[PublishResult]] = [self.publisher.submit(self._next())
                                                        for _ in range(self.per_tick)]
                for future in futures:
                    future.result()
                self.published += len(futures)
                self._stop.wait(0.05)  # pacing the load generator (~10^3 events/s), not synchronisation
        except BaseException as exc:
            self.error = exc


@pytest.fixture(scope="module")
def engine_settings(settings: Settings) -> Iterator[Settings]:
    """Its own app id and keyspace: no other worker of this run writes the engagement rows counted here."""
    own = settings.model_copy(update={"app_id": f"{settings.app_id}-engine",
                                      "cassandra_keyspace": f"{settings.cassandra_keyspace}_engine"})
    migrate(own)
    yield own
    drop_keyspace(own)


def start_worker(settings: Settings, test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory,
                 name: str, instance_id: str | None = None, processors: str | None = None) -> Process:
    port = free_port()
    env = test_env | ({"PHOTOSTREAM_WORKER_INSTANCE_ID": instance_id} if instance_id else {}) | (
        {"PHOTOSTREAM_WORKER_PROCESSORS": processors} if processors else {}) | {
        "PHOTOSTREAM_APP_ID": settings.app_id,
        "PHOTOSTREAM_CASSANDRA_KEYSPACE": settings.cassandra_keyspace,
        "PHOTOSTREAM_WORKER_WEB_PORT": str(port),
        "PHOTOSTREAM_WORKER_DATA_DIR": str(tmp_path_factory.mktemp(name)),
    }
    return Process(["worker", "--processes", "1", "--loglevel", "warning"], env,
                   tmp_path_factory.mktemp("logs") / f"{name}.log", f"http://127.0.0.1:{port}/ready")


def popularity_lag(settings: Settings) -> dict[TP, int]:
    return {(r.topic, r.partition): r.lag for r in consumer_lag(settings, f"{settings.app_id}.popularity")}


def stored_counts(settings: Settings, post_ids: list[str]) -> dict[str, tuple[int, int]]:
    cluster, session = connect(settings)
    try:
        query = session.prepare("SELECT like_count, comment_count FROM post_engagement WHERE post_id = ? LIMIT 1")
        rows = {p: session.execute(query, (p,)).one() for p in post_ids}
    finally:
        cluster.shutdown()
    return {p: (int(r.like_count or 0), int(r.comment_count or 0)) if r else (0, 0) for p, r in rows.items()}


def test_counts_are_exact_with_two_workers_and_one_killed_mid_stream(
    engine_settings: Settings, publisher: Publisher, test_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = engine_settings
    groups = groups_of(settings.app_id)
    seed_groups(settings, groups, end_offsets(settings, {t for topics in groups.values() for t in topics}))
    first = start_worker(settings, test_env, tmp_path_factory, "engine-a")
    second = start_worker(settings, test_env, tmp_path_factory, "engine-b")
    posts = [new_id() for _ in range(24)]  # few posts, many events each: both workers touch every post's topics
    try:
        with EngagementStream(publisher, posts) as stream:
            inputs = 4 * len(PopularityUpdater.topics)  # (each input has four partitions)
            wait_for(lambda: popularity_lag(settings),
                     lambda lag: len(lag) == inputs and any(v > 0 for v in lag.values()),
                     60, "the popularity group to commit on every partition with events still pending")
            wait_for(lambda: stream.published, lambda n: n > 2000, 60, "events streaming")
            # The kill must come while records are uncommitted, or it proves nothing. Between two ticks of the
            # load both workers may have committed everything, so wait for a reading with records pending.
            wait_for(lambda: sum(popularity_lag(settings).values()), lambda pending: pending > 0, 60,
                     "records read but not yet committed, to kill a worker over")
            second.kill()  # SIGKILL: its uncommitted records must be re-read by the survivor
            wait_for(lambda: stream.published, lambda n: n > 4000, 60, "more events while one worker is dead")
            second.restart()  # rejoins: a second rebalance while the stream goes on
            wait_for(lambda: stream.published, lambda n: n > 6000, 60, "more events with both workers")
        wait_for(lambda: popularity_lag(settings), lambda lag: sum(lag.values()) == 0, 120,
                 "the popularity group to catch up")
        expected = {p: stream.model.counts(p) for p in posts}
        assert stored_counts(settings, posts) == expected
    finally:
        first.stop()
        second.stop()


def test_two_pools_of_workers_each_run_only_their_processors_and_together_apply_everything(
    engine_settings: Settings, publisher: Publisher, test_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """``WORKER_PROCESSORS`` splits the processors between pools of workers (what clients wait on after a post,
    and the rest: benchmark 15), on the same app id and groups: each pool runs only its own, is ready once those
    joined, and a post and a like on it are both applied, each by its own pool (nothing else writes this
    keyspace)."""
    settings = engine_settings.model_copy(update={"app_id": f"{engine_settings.app_id}-pools"})
    groups = groups_of(settings.app_id)
    seed_groups(settings, groups, end_offsets(settings, {t for topics in groups.values() for t in topics}))
    live = start_worker(settings, test_env, tmp_path_factory, "pool-live", processors="posts,profiles,feeds")
    bulk = start_worker(settings, test_env, tmp_path_factory, "pool-bulk",
                        processors=",".join(n for n in BATCH_PROCESSORS if n not in ("posts", "profiles", "feeds")))
    try:
        assert httpx.get(live.ready_url).json()["batch_processors"] == 3
        assert httpx.get(bulk.ready_url).json()["batch_processors"] == len(BATCH_PROCESSORS) - 3
        author, post = new_id(), new_id()
        publisher.publish(events.post_created(author_id=author, caption="two pools", image_ids=[new_id()],
                                              post_id=post))
        publisher.publish(events.like_changed(post_id=post, user_id=new_id(), action="like", post_author_id=author))
        wait_for(lambda: stored_post(settings, post), bool, 60, "the live pool's posts projector to store the post")
        wait_for(lambda: stored_counts(settings, [post]), lambda counts: counts[post] == (1, 0), 60,
                 "the bulk pool's popularity processor to count the like")
    finally:
        live.stop()
        bulk.stop()


def test_the_live_loops_run_on_a_thread_of_their_own_apply_and_stop_when_told(
    engine_settings: Settings, publisher: Publisher
) -> None:
    """A worker running every processor runs the posts projector, the profiles projector and the feeds fan-out on
    an event loop of their own (``streams.batch_tasks.LiveLoops``): they apply from that thread, with connections
    of their own, and a stop sent from another thread ends them (the thread ends once their consumers closed)."""
    settings = engine_settings.model_copy(update={"app_id": f"{engine_settings.app_id}-live-{new_id()[-6:]}"})
    groups = {g: t for g, t in groups_of(settings.app_id).items() if g.endswith((".posts", ".profiles"))}
    seed_groups(settings, groups, end_offsets(settings, {t for topics in groups.values() for t in topics}))
    live = LiveLoops(settings, {"posts", "profiles"})
    failed: list[BaseException] = []

    def body() -> None:
        try:
            live.run()
        except BaseException as exc:  # (reported by the test, not lost with the thread)
            failed.append(exc)

    thread = threading.Thread(target=body, name="live-under-test")
    thread.start()
    try:
        assert live.built.wait(60) and sorted(loop.name for loop in live.loops) == ["posts", "profiles"]
        wait_for(lambda: all(loop.joined for loop in live.loops), bool, 60, "the live loops to join their groups")
        post = new_id()
        publisher.publish(events.post_created(author_id=new_id(), caption="apart", image_ids=[new_id()],
                                              post_id=post))
        wait_for(lambda: stored_post(settings, post), bool, 60, "the posts projector on its own thread to store it")
    finally:
        live.stop()
        thread.join(30)
    assert not thread.is_alive() and failed == []


def stored_post(settings: Settings, post_id: str) -> bool:
    cluster, session = connect(settings)
    try:
        return session.execute("SELECT post_id FROM posts WHERE post_id = %s", (post_id,)).one() is not None
    finally:
        cluster.shutdown()


@pytest.mark.parametrize("static", [True, False], ids=["static members", "dynamic members (control)"])
def test_a_worker_back_under_its_instance_id_takes_its_partitions_without_stopping_the_others(
    settings: Settings, static: bool
) -> None:
    """``WORKER_INSTANCE_ID``: a member that comes back under its name within its session gets its old
    partitions at once, and the other member is not revoked (an eager ``range`` rebalance stops everyone). The
    control: dynamic members, where the departure and the return each revoke the other member's partitions."""
    group = f"{settings.app_id}.static-{new_id()[-12:]}"

    def member(name: str) -> Consumer:
        return Consumer(consumer_config(settings, group, f"{group}-{name}" if static else None))

    revoked: list[set[TP]] = []
    other = member("b")
    other.subscribe(list(ENGAGEMENT_TOPICS), on_revoke=lambda c, parts: revoked.append(
        {(str(p.topic), int(p.partition)) for p in parts}))
    leaving = member("a")
    leaving.subscribe(list(ENGAGEMENT_TOPICS))
    members = [other, leaving]

    def assignments() -> list[set[TP]]:
        for consumer in members:  # every member serves the rebalances
            consumer.consume(100, 0.2)
        return [assignment_of(m) for m in members]

    try:
        before = wait_for(assignments, lambda a: all(a) and sum(map(len, a)) == 8, 60, "both members assigned")
        revokes_before = len(revoked)
        leaving.close()  # a static member does not leave its group: to the broker, this is a crash
        members.remove(leaving)
        returning = member("a")
        returning.subscribe(list(ENGAGEMENT_TOPICS))
        members.append(returning)
        after = wait_for(assignments, lambda a: all(a) and sum(map(len, a)) == 8, 60, "the member back")
        revokes = revoked[revokes_before:]  # (before the closes below: a close revokes its own partitions)
    finally:
        for consumer in members:
            consumer.close()
    if static:
        assert after == before  # its own partitions back, without a rebalance
        assert revokes == [], revokes
    else:  # (a new member id: range may split the other way round)
        assert revokes


def test_a_worker_whose_instance_id_another_worker_takes_stops_with_the_reason_and_exit_78(
    engine_settings: Settings, test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Fenced by a newer process under its name, the older one logged a warning on every poll and processed
    nothing; stopped with a generic exit code, its supervisor restarted it, and the two fenced each other in
    turns. Exit 78 (``EX_CONFIG``) tells a supervisor not to restart it."""
    settings = engine_settings.model_copy(update={"app_id": f"{engine_settings.app_id}-fence"})
    groups = groups_of(settings.app_id)
    seed_groups(settings, groups, end_offsets(settings, {t for topics in groups.values() for t in topics}))
    name = f"{settings.app_id}-w"
    older = start_worker(settings, test_env, tmp_path_factory, "fence-older", name)
    newer = start_worker(settings, test_env, tmp_path_factory, "fence-newer", name)
    try:
        assert older.proc.wait(timeout=60) == EXIT_MISCONFIGURED, older.tail()
        assert f"PHOTOSTREAM_WORKER_INSTANCE_ID={name}" in older.tail(200)
        newer.wait_http(newer.ready_url, timeout_s=30)  # the newer one goes on
        assert newer.proc.poll() is None
    finally:
        older.stop()
        newer.stop()
