"""The benchmark run's own namespaces and processes, and their removal at the end.

Like the integration tests: a Cassandra keyspace ``ps_bench_<id>`` (migrated), an otherwise empty Redis
database, an app id (so consumer-group names) and a photo bucket of its own (the photo benchmarks' 12 MP
originals and their sizes went to the deployment's bucket and stayed: ~100 MB a run, until the local S3 had no
volume left for anyone's uploads); worker and API subprocesses get these through
``PHOTOSTREAM_*`` variables. Kafka topics are shared, so readers start at offsets noted before producing.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.kafka_tools import delete_groups
from photostream.settings import PROJECT_ROOT, Settings, get_settings
from photostream.stack import children
from photostream.stack.children import free_port as free_port  # the benchmarks take it from here
from photostream.stack.children import free_port_block
from photostream.stack.migrate import drop_keyspace, migrate
from photostream.stack.redis_claim import NoFreeDatabaseError, claim_empty_db, release
from photostream.stack.s3 import S3Service, drop_bucket
from photostream.topics_admin import ensure_topics
from sinks import keys

BIN = Path(sys.executable).parent
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Timeout|Exhausted)): ")


class BenchError(RuntimeError):
    """A benchmark could not run (a process died, a condition never came true in time)."""


#: every benchmark run works in this namespace (photostream.namespace)
BENCH_NAMESPACE = "bench"



#: database 15 is the benchmarks' (tests pick 1-14, the demo uses 0); others only if a second run holds it
BENCH_REDIS_DB = 15


def claim_redis_db(base_url: str, run_id: str) -> int:
    """An empty Redis database, marked as ours so a concurrent benchmark run picks another one."""
    fallbacks = list(range(1, BENCH_REDIS_DB))
    random.shuffle(fallbacks)
    try:
        return claim_empty_db(base_url, run_id, [BENCH_REDIS_DB, *fallbacks])
    except NoFreeDatabaseError as exc:
        raise BenchError(str(exc)) from None


class AppProcess:
    """A `photostream` subprocess (worker or API) with its own log; ready once ``ready_url`` answers 200 (every
    one of them, for a worker's several processes)."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log: Path, ready_url: str | list[str],
                 timeout_s: float = 90.0) -> None:
        self.name, self.log = name, log
        self.ready_urls = [ready_url] if isinstance(ready_url, str) else ready_url
        self.ready_url = self.ready_urls[0]
        self._file = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([str(BIN / "photostream"), *args], env=env, stdout=self._file,
                                     stderr=subprocess.STDOUT, cwd=PROJECT_ROOT, start_new_session=True)
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for url in self.ready_urls:
            problem = children.wait_ready(self.proc, url, max(1.0, deadline - time.monotonic()))
            if problem is not None:
                raise BenchError(f"{self.name}: {problem}:\n{self.tail()}")

    def exceptions(self) -> dict[str, int]:
        """Exception lines in its log (``pkg.SomeError: message``) counted by type: what its 5xx were about."""
        found: dict[str, int] = {}
        for line in self.log.read_text(errors="replace").splitlines():
            match = _EXCEPTION_LINE.match(line)
            if match:
                found[match.group(1)] = found.get(match.group(1), 0) + 1
        return found

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go within 20 s — only this process, by its own pid."""
        children.stop(self.proc)
        self._file.close()


@dataclass
class BenchEnv:
    """The run's namespaces (keyspace, Redis DB, app ids), its subprocesses, and the consumer groups to delete."""

    run_id: str
    settings: Settings
    redis_db: int
    tmp: Path
    groups: set[str] = field(default_factory=set)
    processes: list[AppProcess] = field(default_factory=list)

    @classmethod
    def open(cls) -> BenchEnv:
        """Claim a Redis database, create + migrate the keyspace, and make sure the ``bench`` namespace's topics
        exist (shared by every benchmark run, never by the demo or the tests: their floods stay here)."""
        get_settings.cache_clear()
        base = get_settings()
        run_id = uuid.uuid4().hex[:8]
        redis_base = base.redis_url.rsplit("/", 1)[0]
        db = claim_redis_db(redis_base, run_id)
        settings = base.model_copy(update={
            "cassandra_keyspace": f"ps_bench_{run_id}",
            "redis_url": f"{redis_base}/{db}",
            "app_id": f"photostream-bench-{run_id}",
            "namespace": BENCH_NAMESPACE,
            "s3_bucket": f"photos-bench-{run_id}",
        })
        keys.use_namespace(BENCH_NAMESPACE)  # this process reads the subprocesses' keys
        env = cls(run_id, settings, db, Path(tempfile.mkdtemp(prefix=f"photostream-bench-{run_id}-")))
        try:
            migrate(settings)
            ensure_topics(settings)
            S3Service(settings).after_healthy()  # (the run's own bucket)
        except Exception:
            env.close()
            raise
        return env

    def with_app_id(self, suffix: str) -> Settings:
        """The run's settings under a derived app id (own consumer groups, same keyspace and Redis DB)."""
        return self.settings.model_copy(update={"app_id": f"{self.settings.app_id}-{suffix}"})

    def subprocess_env(self, settings: Settings) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "PHOTOSTREAM_NAMESPACE": settings.namespace,
            "PHOTOSTREAM_APP_ID": settings.app_id,
            "PHOTOSTREAM_CASSANDRA_KEYSPACE": settings.cassandra_keyspace,
            "PHOTOSTREAM_REDIS_URL": settings.redis_url,
            "PHOTOSTREAM_S3_BUCKET": settings.s3_bucket,
            "PHOTOSTREAM_WORKER_WEB_PORT": str(free_port_block()),
            "PHOTOSTREAM_WORKER_DATA_DIR": str(Path(tempfile.mkdtemp(dir=self.tmp, prefix="worker-"))),
            "PHOTOSTREAM_API_PORT": str(free_port()),
        })
        return env

    def start(self, name: str, args: list[str], env: dict[str, str], ready_url: str | list[str]) -> AppProcess:
        process = AppProcess(name, args, env, self.tmp / f"{name}.log", ready_url)
        self.processes.append(process)
        return process

    def stop(self, process: AppProcess) -> None:
        process.stop()
        if process in self.processes:
            self.processes.remove(process)

    def close(self) -> list[str]:
        """Stop our subprocesses, drop the keyspace, flush our Redis DB, delete our groups and our bucket; return
        problems."""
        problems: list[str] = []
        for process in list(self.processes):
            try:
                self.stop(process)
            except Exception as exc:
                problems.append(f"stopping {process.name}: {exc}")
        try:
            drop_keyspace(self.settings, timeout_s=120)
        except Exception as exc:
            problems.append(f"dropping keyspace {self.settings.cassandra_keyspace}: {exc}")
        try:
            if not release(self.settings.redis_url, self.run_id):
                problems.append(f"Redis DB {self.redis_db} was claimed by someone else; not flushed")
        except Exception as exc:
            problems.append(f"flushing Redis DB {self.redis_db}: {exc}")
        try:
            drop_bucket(self.settings)
        except Exception as exc:
            problems.append(f"dropping bucket {self.settings.s3_bucket}: {exc}")
        try:
            problems += delete_groups(self.settings, self.groups)
        except Exception as exc:
            problems.append(f"deleting consumer groups: {exc}")
        shutil.rmtree(self.tmp, ignore_errors=True)
        return problems
