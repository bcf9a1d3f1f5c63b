"""`photostream stack up|down|status|logs|migrate`: the whole local stack as one unit."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from photostream.settings import Settings
from photostream.stack.alertmanager import AlertmanagerService
from photostream.stack.base import Service, ServiceStatus, StackError
from photostream.stack.cassandra import CassandraService
from photostream.stack.kafka import kafka_services
from photostream.stack.prometheus import PrometheusService
from photostream.stack.redis import RedisService
from photostream.stack.s3 import S3Service

log = logging.getLogger(__name__)
T = TypeVar("T")


def services(settings: Settings) -> list[Service]:
    """Every local service, in start order (the slow JVMs last so the others are not kept waiting)."""
    return [
        RedisService(settings),
        S3Service(settings),
        AlertmanagerService(settings),  # before Prometheus, which sends it alerts
        PrometheusService(settings),
        *kafka_services(settings),  # one node, or the KAFKA_BROKERS=N profile's N nodes
        CassandraService(settings),
    ]


def service(settings: Settings, name: str) -> Service:
    """A service of the stack, or one of the processes `make demo` starts (`stack logs worker` was unknown)."""
    known = [*services(settings), *app_processes(settings)]
    for candidate in known:
        if candidate.name == name:
            return candidate
    raise StackError(f"unknown service {name!r}; known: {', '.join(s.name for s in known)}")


def _in_parallel(items: list[Service], action: Callable[[Service], T]) -> list[T]:
    with ThreadPoolExecutor(max_workers=len(items) or 1) as pool:
        return list(pool.map(action, items))


def up(settings: Settings, report: Callable[[str], None] = log.info) -> list[ServiceStatus]:
    """Install what is missing, start what is not running, wait for health, then migrate and create topics.

    Idempotent: on a running, healthy stack it only re-checks health, migrations and topics.
    """
    started_at = time.monotonic()
    stack = services(settings)
    apt_based = [s for s in stack if s.name in ("redis", "alertmanager", "prometheus")]
    for svc in apt_based:  # dpkg takes a global lock: one at a time
        svc.install()
    _in_parallel([s for s in stack if s not in apt_based], lambda s: s.install())
    report(f"installed in {time.monotonic() - started_at:.1f}s")

    def start_and_wait(svc: Service) -> None:
        if svc.health() is None:
            if svc.pid() is None:
                svc.start()
            begun = time.monotonic()
            svc.wait_healthy()
            report(f"{svc.name} healthy after {time.monotonic() - begun:.1f}s")
        svc.after_healthy()

    _in_parallel(stack, start_and_wait)

    from photostream.stack.migrate import migrate
    from photostream.topics_admin import ensure_topics

    applied = migrate(settings)
    created = ensure_topics(settings)
    report(f"migrations applied: {len(applied)}, topics created: {len(created)}; "
           f"stack up in {time.monotonic() - started_at:.1f}s")
    return status(settings)


def app_processes(settings: Settings) -> list[Service]:
    """The worker, the API and the lag exporter as background processes (started by `make demo`)."""
    from photostream.stack.app_processes import ApiProcess, LagExporterProcess, WorkerProcess

    return [WorkerProcess(settings), ApiProcess(settings), LagExporterProcess(settings)]


def start_app(settings: Settings, report: Callable[[str], None] = log.info) -> None:
    """Start the worker, the API and the lag exporter in the background unless they already run; wait until
    they answer. An address that answers for a process this stack did not start is refused: the new process
    could not bind it, and its health check was answered by the other one ("running", while it had died)."""
    for process in app_processes(settings):
        if process.pid() is None:
            if _answers(process):
                raise StackError(f"{process.name}: something else already answers at {process.address}; stop it "
                                 "or give this one another port")
            process.start()
        process.wait_healthy()
        report(f"{process.name} running at {process.address} (log: {process.log_file})")


def down(settings: Settings) -> list[str]:
    """Stop only what `up` (and `make demo`) started, by recorded pid; return the names stopped."""
    stopped = [p.name for p in app_processes(settings) if p.stop()]
    stopped += _in_parallel(list(reversed(services(settings))), lambda s: s.name if s.stop() else "")
    return [name for name in stopped if name]


def status(settings: Settings) -> list[ServiceStatus]:
    return _in_parallel(services(settings), lambda s: s.status())


def format_table(rows: list[ServiceStatus]) -> str:
    """One aligned table: service, address, version, state, data dir."""
    header = ("SERVICE", "ADDRESS", "VERSION", "STATE", "DATA DIR")
    table = [header] + [(r.name, r.address, r.version, r.state, r.data_dir) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in table)


def _answers(process: Service) -> bool:
    try:
        process.check_health()
    except Exception:
        return False
    return True
