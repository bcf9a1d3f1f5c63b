"""Integration fixtures: the real local stack, a worker and an API process of this test run.

A missing or unhealthy service fails every integration test loudly (never a skip): run `make up`.
Each run uses its own consumer group (app id) and ports, so it passes on a stack left running.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cassandra.cluster import Session

from api.auth import mint_access_token
from photostream.settings import PROJECT_ROOT, Settings
from photostream.stack import children, manager
from photostream.stack.children import free_port as free_port  # the tests take it from here
from photostream.stack.children import free_port_block as free_port_block
from photostream.stack.migrate import drop_keyspace, migrate
from photostream.stack.redis_claim import NoFreeDatabaseError, claim_empty_db, release
from photostream.stack.s3 import S3Service, drop_bucket
from photostream.topics_admin import ensure_topics
from producers.publisher import Publisher
from sinks.cassandra import connect
from streams.consumer_groups import end_offsets, groups_of, seed_groups
from streams.workers import ready_urls_started

BIN = Path(sys.executable).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def settings(settings: Settings, run_id: str) -> Settings:
    """The run's settings on a Redis database of its own: an empty one, claimed (a database picked at random
    and flushed at the end wiped whatever else was using it: a namespace someone was trying things in)."""
    base = settings.redis_url.rsplit("/", 1)[0]
    candidates = list(range(1, 15))  # (0: the demo, 15: the benchmarks)
    random.shuffle(candidates)
    try:
        db = claim_empty_db(base, f"test-{run_id}", candidates)
    except NoFreeDatabaseError as exc:
        pytest.fail(f"{exc}: free one (`redis-cli -p 16379 -n N flushdb`) or stop what uses them", pytrace=False)
    return settings.model_copy(update={"redis_url": f"{base}/{db}"})


@pytest.fixture(scope="session", autouse=True)
def stack(settings: Settings, run_id: str) -> Iterator[None]:
    """The real stack must be healthy; this run gets its own keyspace (migrated) and Redis database, and the
    topics the catalog's settings (a stack left running by an older checkout lacked a setting the code relies
    on: ``stack up`` gives it, as an upgrade would)."""
    rows = manager.status(settings)
    unhealthy = [f"{r.name} ({r.state}) at {r.address}" for r in rows if not r.state.startswith("healthy")]
    if unhealthy:
        pytest.fail("the local stack is not healthy: " + ", ".join(unhealthy) + " — run `make up`", pytrace=False)
    ensure_topics(settings)
    migrate(settings)
    S3Service(settings).after_healthy()  # (the run's own bucket)
    yield
    drop_keyspace(settings)
    release(settings.redis_url, f"test-{run_id}")
    drop_bucket(settings)
    drop_consumer_groups(settings)


def drop_consumer_groups(settings: Settings) -> None:
    """Delete the run's consumer groups (every group of its app id and of the app ids derived from it): left
    behind, each run added ~150 to the broker (2,700 on a stack after a few weeks of runs), every one listed by
    ``photostream lag --all-groups`` and exported by the lag exporter. A group with a member still in it (a
    process that outlived its test) cannot be deleted and stays."""
    from confluent_kafka.admin import AdminClient

    from photostream.kafka_config import client_config

    admin = AdminClient(client_config(settings, log_level=3))
    ours = sorted(g.group_id for g in admin.list_consumer_groups(request_timeout=30).result().valid
                  if g.group_id.startswith((f"{settings.app_id}.", f"{settings.app_id}-")))
    for start in range(0, len(ours), 100):
        for future in admin.delete_consumer_groups(ours[start:start + 100], request_timeout=30).values():
            with contextlib.suppress(Exception):  # (still has a member, or already gone: nothing to do)
                future.result()




def _die_with_pytest() -> None:
    """In the child: SIGTERM when the test session's process dies, however it dies (a killed or timed-out
    run must not leave workers consuming the shared topics forever)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def worker_ready_urls(env: dict[str, str]) -> list[str]:
    """``/ready`` of every process of a ``photostream worker`` started without ``--processes`` (one per core,
    and the live lane's: :func:`streams.workers.ready_urls_started`)."""
    return ready_urls_started(env)


class Process:
    """A photostream subprocess with its own log, stopped at the end of the session.

    ``ready_url``: what answers 200 once it is ready; several (a worker's processes: :func:`worker_ready_urls`)
    are all waited for, at start and after a restart. Waiting for a worker's process 0 alone, a test began while
    process 1 was still joining its groups, and saw a batch it had waited for applied again after that
    rebalance (the views module's rebuild test, twice in fresh-clone suites)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path, ready_url: str | list[str]) -> None:
        self._ready_urls = [ready_url] if isinstance(ready_url, str) else list(ready_url)
        self.log, self.args, self.env, self.ready_url = log, args, env, self._ready_urls[0]
        self._file = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = self._spawn()
        self._wait_ready()

    def _spawn(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([str(BIN / "photostream"), *self.args], env=self.env, stdout=self._file,
                                stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, start_new_session=True,
                                preexec_fn=_die_with_pytest)

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit — a crash."""
        self.proc.kill()
        self.proc.wait()

    def restart(self) -> None:
        if self.proc.poll() is None:
            self.kill()
        self.proc = self._spawn()
        self._wait_ready()

    def _wait_ready(self) -> None:
        for url in self._ready_urls:
            self.wait_http(url)

    def wait_http(self, url: str, timeout_s: float = 90.0, status: int = 200) -> None:
        problem = children.wait_ready(self.proc, url, timeout_s, status)
        if problem is not None:
            pytest.fail(f"{problem}:\n{self.tail()}", pytrace=False)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        children.stop(self.proc)
        self._file.close()


@pytest.fixture(scope="session")
def test_env(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "PHOTOSTREAM_APP_ID": settings.app_id,
        "PHOTOSTREAM_CASSANDRA_KEYSPACE": settings.cassandra_keyspace,
        "PHOTOSTREAM_REDIS_URL": settings.redis_url,
        "PHOTOSTREAM_S3_BUCKET": settings.s3_bucket,
        "PHOTOSTREAM_HASHTAG_WINDOW_S": str(settings.hashtag_window_s),
        "PHOTOSTREAM_CELEBRITY_THRESHOLD": str(settings.celebrity_threshold),
        "PHOTOSTREAM_CELEBRITY_LOW_MARK": str(settings.celebrity_low_mark),
        "PHOTOSTREAM_FEED_CAP": str(settings.feed_cap),
        "PHOTOSTREAM_WORKER_WEB_PORT": str(free_port_block()),
        "PHOTOSTREAM_WORKER_DATA_DIR": str(tmp_path_factory.mktemp("worker")),
        "PHOTOSTREAM_API_PORT": str(free_port()),
        "PHOTOSTREAM_DEV_MODE": "true",
        # avatar changes are purged here; test_photos_extra runs the receiver on this port
        "PHOTOSTREAM_AVATAR_PURGE_URL": f"http://127.0.0.1:{free_port()}/purge",
        # the suite reads hard from one address; the per-address limit itself is tested on its own API
        "PHOTOSTREAM_RATE_LIMIT_READS_PER_SECOND": "100000",
        "PHOTOSTREAM_RATE_LIMIT_READS_BURST": "100000",
        # and registers hundreds of accounts from it (the registration limit is tested on its own API)
        "PHOTOSTREAM_REGISTER_PER_ADDRESS_PER_MINUTE": "100000",
        "PHOTOSTREAM_REGISTER_PER_ADDRESS_BURST": "100000",
        # argon2id still, at a test's cost (23 ms of CPU per hash at the deployment's: hundreds of sign-ups and
        # logins here, on two cores shared with the worker)
        "PHOTOSTREAM_PASSWORD_HASH_MEMORY_KIB": "1024",
        "PHOTOSTREAM_PASSWORD_HASH_TIME_COST": "1",
    })
    return env


@pytest.fixture(scope="session")
def run_start_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    """Where every topic ended when this run began (0 everywhere on a fresh stack, as in CI)."""
    return end_offsets(settings, {t for topics in groups_of("run").values() for t in topics} | {"post-hashtag"})


@pytest.fixture(scope="session")
def worker(settings: Settings, test_env: dict[str, str], run_start_offsets: dict[tuple[str, int], int],
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Process]:
    seed_groups(settings, groups_of(settings.app_id), run_start_offsets)
    proc = Process(["worker", "--loglevel", "warning"], test_env, tmp_path_factory.mktemp("logs") / "worker.log",
                   worker_ready_urls(test_env))
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def api_url(test_env: dict[str, str], settings: Settings, worker: Process,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = test_env["PHOTOSTREAM_API_PORT"]
    url = f"http://127.0.0.1:{port}"
    proc = Process(["api"], test_env, tmp_path_factory.mktemp("logs") / "api.log", url + "/readyz")
    # register with Prometheus' file discovery so the scrape test sees this process
    targets = settings.stack_dir / "conf" / "prometheus" / "targets"
    targets.mkdir(parents=True, exist_ok=True)
    target_file = targets / f"photostream-api-test-{port}.json"
    target_file.write_text(json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"instance_kind": "test"}}]))
    yield url
    target_file.unlink(missing_ok=True)
    proc.stop()


def in_namespace(settings: Settings, namespace: str, suffix: str) -> Settings:
    """This run's settings moved into ``namespace`` (its own topics, created once and reused by later runs, and
    Redis keys), with an app id and keyspace of their own (migrated; drop it with ``drop_keyspace``) and every
    consumer group seeded at the log end."""
    own = settings.model_copy(update={"namespace": namespace, "app_id": f"{settings.app_id}-{suffix}",
                                      "cassandra_keyspace": f"{settings.cassandra_keyspace}_{suffix}"})
    ensure_topics(own)
    migrate(own)
    groups = groups_of(own.app_id)
    seed_groups(own, groups, end_offsets(own, {t for topics in groups.values() for t in topics}))
    return own


def own_worker_and_api(own: Settings, test_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory,
                       name: str, extra_env: dict[str, str] | None = None) -> tuple[Process, Process, str]:
    """A worker (one process) and an API beside the run's, under ``own``'s namespace, app id and keyspace (and
    ``extra_env``), on fresh ports: (worker, API, the API's base URL with its prefix). Stop the API first."""
    env = test_env | {"PHOTOSTREAM_NAMESPACE": own.namespace, "PHOTOSTREAM_APP_ID": own.app_id,
                      "PHOTOSTREAM_CASSANDRA_KEYSPACE": own.cassandra_keyspace,
                      "PHOTOSTREAM_WORKER_WEB_PORT": str(free_port_block()), "PHOTOSTREAM_API_PORT": str(free_port()),
                      "PHOTOSTREAM_WORKER_DATA_DIR": str(tmp_path_factory.mktemp(f"{name}-worker"))} | (extra_env or {})
    logs = tmp_path_factory.mktemp(f"{name}-logs")
    worker = Process(["worker", "--processes", "1", "--loglevel", "warning"], env, logs / "worker.log",
                     f"http://127.0.0.1:{env['PHOTOSTREAM_WORKER_WEB_PORT']}/ready")
    url = f"http://127.0.0.1:{env['PHOTOSTREAM_API_PORT']}"
    return worker, Process(["api"], env, logs / "api.log", url + "/readyz"), url + "/api/v1"


@pytest.fixture(scope="module")
def cql(settings: Settings) -> Iterator[Session]:
    """A Cassandra session on the run's keyspace, for tests that seed or read rows directly."""
    cluster, session = connect(settings)
    yield session
    cluster.shutdown()


@pytest.fixture()
def client(api_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_url + "/api/v1", timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def publisher(settings: Settings) -> Iterator[Publisher]:
    with Publisher(settings) as p:
        yield p


def photostream(env: dict[str, str], *args: str, timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the ``photostream`` CLI (a rebuild, a replay, an ops command) as its own process, output captured:
    how an operator would run it, so it is tested through its entry point and exit code."""
    return subprocess.run([str(BIN / "photostream"), *args], env=env, cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=timeout_s, check=False)


def auth(settings: Settings, user_id: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_access_token(settings, user_id)}"}
