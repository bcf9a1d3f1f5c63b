"""Hashtag views are projections of durable state: `rebuild hashtags` equals live, a Redis outage between the
durable write and the Redis write heals without a replay, and a delete committed before its create wins.

The module runs a worker of its own (own keyspace, consumer groups starting now, and its own redis-server, so
stopping that Redis disturbs no one) and waits for the consumer offsets of its own records, never for a
shared topic to drain (other runs may be flooding it).
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from photostream.lag import consumer_lag
from photostream.rebuild_hashtags import rebuild_hashtags
from photostream.settings import Settings
from photostream.stack.migrate import drop_keyspace, migrate
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher, PublishResult
from sinks import keys
from sinks.cassandra import connect
from sinks.engagement import EngagementStore
from streams.consumer_groups import end_offsets, groups_of, seed_groups
from tests.integration.conftest import Process, free_port, free_port_block, photostream, worker_ready_urls
from tests.integration.test_hashtags import unique_tag
from tests.integration.waiting import wait_for


class OwnRedis:
    """A redis-server of this test only (the shared one is never stopped), persisting to its own folder."""

    def __init__(self, folder: Path) -> None:
        self.port, self.folder = free_port(), folder
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder),
             "--appendonly", "yes", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        client = redis.Redis.from_url(self.url)
        wait_for(lambda: self._ping(client), bool, 20, "own redis to answer")

    @staticmethod
    def _ping(client: redis.Redis) -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Redis writes its AOF and exits
            self.proc.wait(timeout=20)


@dataclass
class Pipeline:
    """A worker of this test with its settings and environment."""

    settings: Settings
    env: dict[str, str]
    worker: Process
    redis: OwnRedis
    session: Any
    view: redis.Redis

    def publish(self, publisher: Publisher, *published: events.Event) -> list[PublishResult]:
        return [publisher.publish(event) for event in published]

    def applied(self, processor: str, results: Iterable[PublishResult], timeout_s: float = 180) -> None:
        """Wait until ``processor`` has committed past every one of ``results``."""
        wanted: dict[tuple[str, int], int] = {}
        for r in results:
            wanted[(r.topic, r.partition)] = max(wanted.get((r.topic, r.partition), -1), r.offset)
        group = f"{self.settings.app_id}.{processor}"

        def behind() -> int:
            committed = {(row.topic, row.partition): row.committed for row in consumer_lag(self.settings, group)}
            return sum(1 for tp, offset in wanted.items() if committed.get(tp, -1) <= offset)

        wait_for(behind, lambda n: n == 0, timeout_s, f"{group} to commit past {wanted}")

    def counted(self, created: Iterable[PublishResult]) -> None:
        """The extractor has handled these records, and the counter everything the extractor emitted so far."""
        self.applied("hashtag-extractor", created)
        ends = end_offsets(self.settings, {"post-hashtag"})
        self.applied("hashtag-counter", [PublishResult("post-hashtag", p, o - 1, "") for (_, p), o in ends.items()
                                         if o > 0])

    def rebuild(self, *args: str) -> subprocess.CompletedProcess[str]:
        return photostream(self.env, "rebuild", "hashtags", *args, timeout_s=300)


@pytest.fixture(scope="module")
def pipeline(settings: Settings, test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[Pipeline]:
    """One for the module (a keyspace's migrations and a worker's start took ~15 s per test): the tests use tags
    of their own, and each leaves the views equal to the durable state, which the next one's `--check` proves."""
    own_redis = OwnRedis(tmp_path_factory.mktemp("views-redis"))
    own_redis.start()
    suffix = new_id()[-8:]
    mine = settings.model_copy(update={"app_id": f"{settings.app_id}-views-{suffix}",
                                       "cassandra_keyspace": f"{settings.cassandra_keyspace}_v{suffix}",
                                       "redis_url": own_redis.url})
    migrate(mine)
    groups = groups_of(mine.app_id)
    seed_groups(mine, groups, end_offsets(mine, {t for topics in groups.values() for t in topics}))
    env = test_env | {"PHOTOSTREAM_APP_ID": mine.app_id, "PHOTOSTREAM_CASSANDRA_KEYSPACE": mine.cassandra_keyspace,
                      "PHOTOSTREAM_REDIS_URL": mine.redis_url, "PHOTOSTREAM_WORKER_WEB_PORT": str(free_port_block()),
                      "PHOTOSTREAM_WORKER_DATA_DIR": str(tmp_path_factory.mktemp("views-worker"))}
    worker = Process(["worker", "--loglevel", "warning"], env, tmp_path_factory.mktemp("logs") / "views.log",
                     worker_ready_urls(env))
    cluster, session = connect(mine)
    try:
        yield Pipeline(mine, env, worker, own_redis, session, redis.Redis.from_url(mine.redis_url,
                                                                                    decode_responses=True))
    finally:
        worker.stop()
        own_redis.stop()
        cluster.shutdown()
        drop_keyspace(mine)


def created(caption: str) -> events.Event:
    return events.post_created(author_id=new_id(), caption=caption, image_ids=[new_id()])


def deleted(post: events.Event) -> events.Event:
    return events.post_deleted(post_id=post.value["post_id"], author_id=post.value["author_id"])


def like(post: events.Event) -> events.Event:
    return events.like_changed(post_id=post.value["post_id"], user_id=new_id(), action="like")


def test_rebuild_equals_live_after_posts_likes_comments_and_deletes(
    publisher: Publisher, pipeline: Pipeline
) -> None:
    tag, other = unique_tag("rb"), unique_tag("rc")
    posts = [created(f"#{tag} #{other} {i}") for i in range(4)] + [created(f"#{tag}")]
    creates = pipeline.publish(publisher, *posts)
    engagement = pipeline.publish(publisher, *[like(p) for i, p in enumerate(posts[:3]) for _ in range(i + 1)],
                                  events.comment_added(post_id=posts[3].value["post_id"], user_id=new_id(),
                                                       text="nice"))
    creates += pipeline.publish(publisher, deleted(posts[0]))
    pipeline.counted(creates)
    pipeline.applied("popularity", engagement)
    view = pipeline.view
    assert view.hget(keys.hashtag(tag), "post_count") == "4"
    assert set(view.zrange(keys.hashtag_top(tag), 0, -1)) == {p.value["post_id"] for p in posts[1:]}
    assert view.zrange(keys.hashtag_related(tag), 0, -1, withscores=True) == [(other, 3.0)]

    checked = pipeline.rebuild("--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert ", 0 differences" in checked.stdout and " 0 keys compared" not in checked.stdout

    # a corrupted view is found (exit 1, named) and then rewritten from Cassandra. The worker may still re-project
    # the tag (a batch replayed after its group rebalanced: a fresh clone's suite found the views right again
    # before the check read them); then the view read back is the durable one, and it is corrupted again
    for _ in range(3):
        view.hset(keys.hashtag(tag), "post_count", 99)
        view.zrem(keys.hashtag_top(tag), posts[2].value["post_id"])
        checked = pipeline.rebuild("--check")
        if checked.returncode == 1 or view.hget(keys.hashtag(tag), "post_count") != "4":
            break
    assert checked.returncode == 1, checked.stdout
    assert f"#{tag} post_count: live 99, durable 4" in checked.stdout and f"#{tag} top:" in checked.stdout
    repaired = pipeline.rebuild()
    assert repaired.returncode == 0, repaired.stdout
    # (two differences rewritten, unless the worker re-projected the tag first: then none are left to rewrite)
    assert "2 differences, 1 rewritten" in repaired.stdout or ", 0 differences" in repaired.stdout, repaired.stdout
    assert pipeline.rebuild("--check").returncode == 0
    assert view.hget(keys.hashtag(tag), "post_count") == "4"

    # views of a tag never counted durably were served as they were, and --check found nothing
    ghost = unique_tag("gh")
    view.hset(keys.hashtag(ghost), "post_count", 5)
    view.zadd(keys.hashtag_top(ghost), {new_id(): 1.0})
    view.zadd(keys.trend_active(), {ghost: 1})
    view.sadd(keys.trend_authors(ghost, 3_600_000, 0), new_id())  # a bucket long gone from any window
    view.set(keys.hashtag(ghost)[:-1], "a key of no tag's shape (no closing brace)")  # skipped, not a crash
    checked = pipeline.rebuild("--check")
    assert checked.returncode == 1 and f"tag {ghost}: views in Redis, never counted durably" in checked.stdout
    assert pipeline.rebuild().returncode == 0 and pipeline.rebuild("--check").returncode == 0
    assert not view.exists(keys.hashtag(ghost), keys.hashtag_top(ghost), keys.trend_authors(ghost, 3_600_000, 0))
    assert view.zscore(keys.trend_active(), ghost) is None
    assert view.hget(keys.hashtag(tag), "post_count") == "4"

    # a stored count its likes contradict (two loops that both owned the post once lost an update): found from
    # the membership rows, and set back to what they say
    liked_twice = posts[1].value["post_id"]
    pipeline.session.execute("UPDATE post_engagement SET like_count = 7 WHERE post_id = %s", (liked_twice,))
    checked = pipeline.rebuild("--check")
    assert checked.returncode == 1
    assert f"post {liked_twice} counts: stored (7, 0), its likes and comments (2, 0)" in checked.stdout
    assert pipeline.rebuild().returncode == 0 and pipeline.rebuild("--check").returncode == 0
    assert durable(pipeline.session, tag, liked_twice)[1] == 2


def test_a_like_applied_between_the_checks_two_reads_is_not_reported_but_a_stale_count_is(
    publisher: Publisher, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check compares a live stream: here the counts' scan is made to read the post as it was just before
    its like was applied (the race seen in a suite run: 'live (2, 0), durable (1, 0)'), the Redis read after it."""
    post = created(f"#{unique_tag('lr')}")
    post_id = post.value["post_id"]
    pipeline.counted(pipeline.publish(publisher, post))
    pipeline.applied("popularity", pipeline.publish(publisher, like(post)))
    assert pipeline.view.hget(keys.post_engagement(post_id), "like_count") == "1"
    scanned = EngagementStore.all_counts

    async def scanned_before_the_like(store: EngagementStore) -> dict[str, tuple[int, int]]:
        return await scanned(store) | {post_id: (0, 0)}

    monkeypatch.setattr(EngagementStore, "all_counts", scanned_before_the_like)
    raced = asyncio.run(rebuild_hashtags(pipeline.settings, repair=False))
    assert [found for found in raced.differences if post_id in found] == []

    monkeypatch.undo()
    pipeline.view.hset(keys.post_engagement(post_id), "like_count", 5)  # stale: it differs at every reading
    stale = asyncio.run(rebuild_hashtags(pipeline.settings, repair=False))
    assert [found for found in stale.differences if post_id in found] == [
        f"post {post_id} engagement: live (5, 0), durable (1, 0)"]
    assert pipeline.rebuild().returncode == 0
    assert pipeline.view.hget(keys.post_engagement(post_id), "like_count") == "1"


def durable(session: Any, tag: str, post_id: str) -> tuple[int | None, int | None]:
    count = session.execute("SELECT post_count FROM hashtag_state WHERE tag = %s LIMIT 1", (tag,)).one()
    likes = session.execute("SELECT like_count FROM post_engagement WHERE post_id = %s LIMIT 1", (post_id,)).one()
    return (count.post_count if count else None, likes.like_count if likes else None)


def test_views_heal_without_a_replay_when_redis_was_down_between_the_durable_and_the_redis_write(
    publisher: Publisher, pipeline: Pipeline
) -> None:
    tag, other = unique_tag("out"), unique_tag("co")
    first, second = created(f"#{tag} #{other}"), created(f"#{tag}")
    pipeline.counted(pipeline.publish(publisher, first, second))
    view = pipeline.view
    assert view.hget(keys.hashtag(tag), "post_count") == "2"

    pipeline.redis.stop()
    third = created(f"#{tag} #{other}")
    pipeline.publish(publisher, like(first), like(first), third, deleted(second))
    # the transitions become durable while Redis is down; the Redis writes after them fail and are retried
    wait_for(lambda: durable(pipeline.session, tag, first.value["post_id"]), lambda v: v == (2, 2), 120,
             "durable state written during the outage")
    assert pipeline.worker.proc.poll() is None, pipeline.worker.tail()

    pipeline.redis.start()  # same folder: what Redis held before the outage is back, nothing newer
    top = {first.value["post_id"], third.value["post_id"]}
    wait_for(lambda: (view.hget(keys.hashtag(tag), "post_count"), set(view.zrange(keys.hashtag_top(tag), 0, -1)),
                      view.hget(keys.post_engagement(first.value["post_id"]), "like_count"),
                      view.zrange(keys.hashtag_related(tag), 0, -1, withscores=True)),
             lambda v: v == ("2", top, "2", [(other, 2.0)]), 120, "views healed by the retried batches")
    checked = pipeline.rebuild("--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_delete_committed_before_its_create_is_published_still_wins(
    publisher: Publisher, pipeline: Pipeline
) -> None:
    tag = unique_tag("dbc")
    early = created(f"#{tag}")
    gone = pipeline.publish(publisher, deleted(early))
    pipeline.applied("hashtag-extractor", gone)  # the delete's batch is committed: the create comes later
    late = pipeline.publish(publisher, early, kept := created(f"#{tag}"))
    pipeline.counted(late)
    assert pipeline.view.hget(keys.hashtag(tag), "post_count") == "1"
    assert pipeline.view.zrange(keys.hashtag_top(tag), 0, -1) == [kept.value["post_id"]]
    assert pipeline.rebuild("--check").returncode == 0
