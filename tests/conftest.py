"""Shared fixtures. Integration fixtures live in tests/integration/conftest.py."""

import os
import random
import uuid

import pytest

from photostream.settings import Settings, get_settings

# Tests run on the local stack's placeholder secrets: development mode, set before any test module builds a
# Settings (some do at collection time) and inherited by the worker and API processes the tests start.
os.environ["PHOTOSTREAM_DEV_MODE"] = "true"


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def settings(run_id: str) -> Settings:
    """The configured settings, with this run's own namespaces: a Cassandra keyspace, a Redis database and a
    consumer-group prefix. Kafka topics are shared (events carry unique ids), so a demo worker running on the
    same stack never races this run's processors on the same rows."""
    get_settings.cache_clear()
    base = get_settings()
    redis_base = base.redis_url.rsplit("/", 1)[0]
    return base.model_copy(update={
        "cassandra_keyspace": f"ps_test_{run_id}",
        # 0: the demo, 15: the benchmarks; integration sessions claim an empty one (tests/integration/conftest.py)
        "redis_url": f"{redis_base}/{random.randint(1, 14)}",
        "app_id": f"photostream-test-{run_id}",
        # a bucket of its own: with the shared one, another run's worker (or a demo's) derived this run's uploads,
        # found no such image in its keyspace and deleted the sizes it had just written
        "s3_bucket": f"photos-test-{run_id}",
        "dev_mode": True,
        "hashtag_window_s": 2,  # a short tumbling window keeps the suite fast; the mechanism is the same
        # small feed limits let the suite cross the celebrity threshold and the feed cap with a handful of users
        "celebrity_threshold": 3,
        "celebrity_low_mark": 2,
        "feed_cap": 5,
    })
