"""Namespaces through the real stack: a worker and an API in their own namespace share the broker, Cassandra and
the very same Redis database with this run's plain-named processes, and neither sees the other's events.

The namespace's topics are created once and reused by later runs (its consumer groups are per run, seeded at
the log end; its keyspace is per run and dropped at the end)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from photostream.settings import Settings
from photostream.stack.migrate import drop_keyspace
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher, PublishResult
from sinks import keys
from sinks.redis_client import sync_client
from streams.consumer_groups import end_offsets
from tests.integration.conftest import in_namespace, own_worker_and_api
from tests.integration.waiting import applied, wait_for

NAMESPACE = "it-ns"
#: processors that mark what they applied (likes are counted without marks: the count itself is awaited)
APPLIERS = {"post-created": ("posts", "feeds")}


@pytest.fixture(scope="module")
def ns_settings(settings: Settings) -> Iterator[Settings]:
    """This run's settings moved into the namespace (same Redis database, on purpose)."""
    namespaced = in_namespace(settings, NAMESPACE, "ns")
    yield namespaced
    drop_keyspace(namespaced)


@pytest.fixture(scope="module")
def ns_api(ns_settings: Settings, test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A worker and an API of the namespace."""
    worker, api, url = own_worker_and_api(ns_settings, test_env, tmp_path_factory, "ns")
    yield url
    api.stop()
    worker.stop()


def settle(settings: Settings, published: list[PublishResult]) -> None:
    """Wait until the namespace's processors applied exactly these records (their namespaced marks)."""
    redis = sync_client(settings)
    keys.use_namespace(NAMESPACE)
    try:
        applied(redis, ((r.topic, r.partition, r.offset) for r in published), lambda topic: APPLIERS.get(topic, ()),
                "the namespace's processors to apply the test's events")
    finally:
        keys.use_namespace("")


def test_a_namespace_keeps_its_events_topics_and_keys_to_itself(
        ns_settings: Settings, ns_api: str, api_url: str) -> None:
    author, liker = new_id(), new_id()
    post = events.post_created(author_id=author, caption="in a namespace", image_ids=[new_id()])
    post_id = str(post.value["post_id"])
    with Publisher(ns_settings) as publisher:
        published = [publisher.publish(post),
                     publisher.publish(events.like_changed(post_id=post_id, user_id=liker, action="like"))]
    assert {r.topic for r in published} == {"post-created", "like-changed"}  # callers keep the catalog's names
    settle(ns_settings, published)

    # the namespace's API serves it, counted by the namespace's worker
    def likes() -> object:
        answer = httpx.get(f"{ns_api}/posts/{post_id}", timeout=30)
        return answer.json().get("like_count") if answer.status_code == 200 else answer.status_code

    wait_for(likes, lambda count: count == 1, 120, "the namespace's worker to count the like")

    # the record is in the namespace's topic on the broker...
    by_partition = {r.partition: r.offset for r in published if r.topic == "post-created"}
    ns_ends = end_offsets(ns_settings, ["post-created"])
    assert all(ns_ends[("post-created", p)] > offset for p, offset in by_partition.items())
    # ...and nowhere this run's plain-named worker reads: its API never heard of the post
    assert httpx.get(f"{api_url}/api/v1/posts/{post_id}", timeout=30).status_code == 404

    # the namespace's Redis keys are its own, in the same database as the plain ones
    redis = sync_client(ns_settings)
    assert redis.hget(f"{NAMESPACE}:{keys.applied_offsets('posts', 'post-created')}", str(published[0].partition))
    assert not redis.exists(keys.post_engagement(post_id))
