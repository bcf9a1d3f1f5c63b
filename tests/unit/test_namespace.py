"""Namespaces: topic names at the Kafka edge, derived app id and keyspace, and Redis keys."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import ValidationError

from photostream.namespace import TopicNames
from photostream.settings import Settings
from sinks import keys


def test_topic_names_round_trip_and_the_empty_namespace_is_the_catalog() -> None:
    bench = TopicNames("bench")
    assert bench.physical("like-changed") == "bench.like-changed"
    assert bench.physical("like-changed.dlq") == "bench.like-changed.dlq"
    assert bench.logical("bench.like-changed") == "like-changed"
    assert bench.owns("bench.post-created") and not bench.owns("post-created")
    plain = TopicNames()
    assert plain.physical("post-created") == plain.logical("post-created") == "post-created"
    assert plain.owns("post-created.dlq") and not plain.owns("bench.post-created")


def test_a_namespace_derives_app_id_and_keyspace_unless_they_are_set() -> None:
    derived = Settings(namespace="demo-2", dev_mode=True)
    assert (derived.app_id, derived.cassandra_keyspace) == ("photostream-demo-2", "photostream_demo_2")
    explicit = Settings(namespace="demo-2", app_id="mine", cassandra_keyspace="ks", dev_mode=True)
    assert (explicit.app_id, explicit.cassandra_keyspace) == ("mine", "ks")
    assert Settings(dev_mode=True).app_id == "photostream"


@pytest.mark.parametrize("bad", ["Bench", "1st", "a_b", "x" * 25, "a.b"])
def test_a_namespace_that_cannot_name_everything_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="PHOTOSTREAM_NAMESPACE"):
        Settings(namespace=bad, dev_mode=True)


@pytest.fixture()
def namespaced_keys() -> Iterator[None]:
    keys.use_namespace("bench")
    yield
    keys.use_namespace("")


def test_redis_keys_carry_the_namespace_and_owners_still_parse(namespaced_keys: None) -> None:
    assert keys.feed("u1") == "bench:feed:{u1}"
    assert keys.trend_active().startswith("bench:")
    assert keys.feed_owner(keys.feed("u1")) == "u1"
    assert keys.unread_owner(keys.unread_senders("u2")) == "u2"
