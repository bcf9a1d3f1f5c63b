"""``photostream worker --processes N``: N worker processes on one machine, sharing the consumer groups.

One Python process runs one event loop on one core, so a machine runs one worker process per core and the
consumer groups split the partitions among them (and among other machines' workers). Each process is an
ordinary ``photostream worker --processes 1`` whose settings differ only in what must not be shared: process
*i* serves faust's web page on ``WORKER_WEB_PORT + i``, keeps its data in its own directory and (if the worker
has a ``WORKER_INSTANCE_ID``) is the static group member ``<id>.p<i>`` (process 0 keeps the base port, directory
and id, so probes and scrapes of a single worker need no change). A restarted process gets its index back, so
its static membership takes its partitions back at once.

A worker that runs every processor puts the live ones (``WORKER_LIVE_PROCESSORS``: what a client waits on after
a post) in one more process, *N*, and the others in processes 0..N-1, which run ``WORKER_BULK_NICENESS`` lower
(:func:`process_plan`): in one event loop with the rest, a backlog on any topic delayed a client's own post
(benchmark 15).

The parent only supervises: it forwards SIGTERM/SIGINT, restarts a process that died on its own (a crash
loop stops everything), and exits when all have stopped. The children are in their own process group (a
terminal's Ctrl-C reaches them once, through the parent) and die with the parent (``PR_SET_PDEATHSIG``), so a
SIGKILLed parent is a crash of the whole set, never orphans holding partitions.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import FrameType
from typing import NamedTuple

from photostream.settings import Settings

log = logging.getLogger(__name__)

#: a process that exits sooner than this after its start, this many times in a row, is a crash loop
QUICK_EXIT_S = 10.0
QUICK_EXITS_MAX = 3
_PR_SET_PDEATHSIG = 1
#: set in a supervised process's environment (the supervisor's pid): its supervisor registers it for scraping
SUPERVISOR_ENV = "PHOTOSTREAM_WORKER_SUPERVISOR"
#: a worker process's exit code when it cannot run as configured (``EX_CONFIG``): the broker fenced it because
#: another running process has its static membership name. Restarted, it would fence that one in turn (two
#: deployments took turns until one's crash-loop guard stopped it), so its supervisor stops instead
EXIT_MISCONFIGURED = 78


class Share(NamedTuple):
    """One process's part of a worker: its ``WORKER_PROCESSORS`` (None: the worker's own) and its ``nice``."""

    processors: str | None = None
    niceness: int = 0


def process_plan(settings: Settings, processes: int, known: Iterable[str]) -> list[Share]:
    """What each process of a worker asked for ``processes`` runs. A worker of two or more that runs every
    processor gets one process more, last, for ``WORKER_LIVE_PROCESSORS``; its other processes run the rest,
    ``WORKER_BULK_NICENESS`` lower. One process, a worker given its processors, or no live processors: every
    process runs what the worker was given, at the worker's own priority."""
    live = settings.worker_live_processors
    rest = ",".join(name for name in sorted(known) if name not in live)
    if processes < 2 or settings.worker_processors or not live or not rest:
        return [Share()] * processes
    return [Share(rest, settings.worker_bulk_niceness)] * processes + [Share(",".join(live))]


def web_ports_started(environment: Mapping[str, str], processes: int | None = None) -> list[int]:
    """The web ports of every process that ``photostream worker [--processes N]`` run with ``environment`` starts
    (the live lane's included): what a caller waiting for each one's ``/ready``, or summing their metrics, asks."""
    from streams.app import known_processors  # (streams.app imports this module)

    named = {field: f"PHOTOSTREAM_{field.upper()}"
             for field in ("worker_web_port", "worker_processors", "worker_live_processors")}
    chosen = {field: environment[variable] for field, variable in named.items() if variable in environment}
    settings = Settings(dev_mode=True, **chosen)  # type: ignore[arg-type]
    plan = process_plan(settings, processes or os.cpu_count() or 1, known_processors())
    return [web_port(settings, index) for index in range(len(plan))]


def ready_urls_started(environment: Mapping[str, str], processes: int | None = None) -> list[str]:
    """``/ready`` of every process :func:`web_ports_started` names: what a caller that started a worker waits on
    before it uses it (the harness, the benchmarks)."""
    return [f"http://127.0.0.1:{port}/ready" for port in web_ports_started(environment, processes)]


def web_port(settings: Settings, index: int) -> int:
    return settings.worker_web_port + index


def taken_web_ports(settings: Settings, processes: int) -> list[int]:
    """The web ports of ``processes`` workers that something already listens on. Why ask first: faust found
    out only after joining its groups, and answered with a 40-line traceback (and a supervisor restarting the
    process into the same wall). Probed as the web server binds (``SO_REUSEADDR``), so only a listener counts,
    not the connections a stopped worker left in TIME_WAIT."""
    taken = []
    for index in range(processes):
        port = web_port(settings, index)
        with socket.socket(socket.AF_INET6 if ":" in settings.worker_web_host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((settings.worker_web_host, port))
            except OSError:
                taken.append(port)
    return taken


def data_dir(settings: Settings, index: int) -> Path:
    base = settings.worker_data_dir
    return base if index == 0 else base.with_name(f"{base.name}-{index}")


def instance_id(settings: Settings, index: int) -> str | None:
    """Process *i*'s static membership name: the worker's, with ``.p<i>`` (process 0 keeps it as it is). Not
    ``-<i>``: StatefulSet pods are named ``worker-0``, ``worker-1``…, and ``worker``'s process 1 fenced the pod
    ``worker-1``."""
    base = settings.worker_instance_id
    return base if base is None or index == 0 else f"{base}.p{index}"


def child_env(settings: Settings, index: int, processors: str | None = None) -> dict[str, str]:
    """The parent's environment, with the settings that must differ per process (``processors``: its
    :func:`process_plan` entry)."""
    named = instance_id(settings, index)
    return os.environ | {
        "PHOTOSTREAM_WORKER_WEB_PORT": str(web_port(settings, index)),
        "PHOTOSTREAM_WORKER_DATA_DIR": str(data_dir(settings, index)),
        SUPERVISOR_ENV: str(os.getpid()),
    } | ({"PHOTOSTREAM_WORKER_INSTANCE_ID": named} if named else {}) | (
        {"PHOTOSTREAM_WORKER_PROCESSORS": processors} if processors is not None else {})


def _die_with_parent() -> None:
    """Runs in the child between fork and exec: SIGKILL it when the parent dies (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def child_setup(niceness: int) -> Callable[[], None]:
    """What runs in a child between fork and exec: it dies with the parent, and runs ``niceness`` lower."""
    def setup() -> None:
        _die_with_parent()
        if niceness:
            os.nice(niceness)
    return setup


class Child:
    def __init__(self, settings: Settings, index: int, loglevel: str, share: Share = Share()) -> None:
        self.index = index
        self.started = time.monotonic()
        self.quick_exits = 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "photostream.cli", "worker", "--processes", "1", "--loglevel", loglevel],
            env=child_env(settings, index, share.processors), preexec_fn=child_setup(share.niceness),
            process_group=0)


def scrape_targets(settings: Settings, processes: int) -> list[Path]:
    """Register the processes with the local stack's Prometheus (file service discovery: its
    ``targets/photostream-worker-*.json``), all but one on the port it scrapes statically. Returns the files
    written (none where no local Prometheus is configured). Why: only process 0 was scraped, so the alerts on
    the worker's metrics (a processor not ready, event age, dead letters) saw half the partitions; and with
    another ``WORKER_WEB_PORT`` than the stack's, process 0 was never scraped (and the default port's target
    was down)."""
    from photostream.stack.prometheus import PrometheusService

    prometheus = PrometheusService(settings)
    folder = prometheus.targets_dir
    if not folder.is_dir():
        return []
    static = prometheus.static_port("photostream-worker")
    written = []
    for index in range(processes):
        if web_port(settings, index) == static:
            continue
        # (named by the port too: two lone workers of one namespace on one host wrote one file, and the first to
        # stop took the other's registration with it)
        path = folder / f"photostream-worker-{settings.app_id}-{index}-{web_port(settings, index)}.json"
        target = {"targets": [f"{settings.worker_web_host}:{web_port(settings, index)}"],
                  "labels": {"process": str(index)}}
        path.write_text(json.dumps([target]) + "\n")
        written.append(path)
    return written


@contextlib.contextmanager
def scraped(settings: Settings, processes: int) -> Iterator[None]:
    """:func:`scrape_targets` for as long as the block runs: by the supervisor of several processes, or by a
    process running alone (a supervised one is registered by its supervisor)."""
    registered = [] if os.environ.get(SUPERVISOR_ENV) else scrape_targets(settings, processes)
    try:
        yield
    finally:
        for path in registered:
            path.unlink(missing_ok=True)


def supervise(settings: Settings, plan: list[Share], loglevel: str) -> int:
    """Run the workers of ``plan`` (:func:`process_plan`) until a signal stops them; the exit code is the worst
    child's."""
    with scraped(settings, len(plan)):
        return _supervise(settings, plan, loglevel)


def _supervise(settings: Settings, plan: list[Share], loglevel: str,
               spawn: Callable[[Settings, int, str, Share], Child] | None = None) -> int:
    """``spawn``: how process *i* is started (a test's stand-in; default :class:`Child`)."""
    start, processes = spawn or Child, len(plan)
    children = {i: start(settings, i, loglevel, plan[i]) for i in range(processes)}
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.proc.poll() is None:
                child.proc.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    log.info("supervising %d worker processes (web ports %d..%d)", processes, web_port(settings, 0),
             web_port(settings, processes - 1))
    worst = 0
    while children:
        pid, status = os.wait()
        index = next((i for i, c in children.items() if c.proc.pid == pid), None)
        if index is None:
            continue
        dead = children.pop(index)
        dead.proc.returncode = code = os.waitstatus_to_exitcode(status)
        if stopping:
            worst = max(worst, abs(code))
            continue
        if code == EXIT_MISCONFIGURED:
            log.error("worker process %d cannot run as configured (its log says why: e.g. another running worker "
                      "has its WORKER_INSTANCE_ID); stopping all", index)
            forward(signal.SIGTERM, None)
            worst = max(worst, code)
            continue
        quick = dead.quick_exits + 1 if time.monotonic() - dead.started < QUICK_EXIT_S else 0
        if quick >= QUICK_EXITS_MAX:
            log.error("worker process %d exited %d times in a row right after starting; stopping all", index, quick)
            forward(signal.SIGTERM, None)
            worst = max(worst, abs(code) or 1)
            continue
        log.warning("worker process %d exited (%d); restarting it", index, code)
        children[index] = start(settings, index, loglevel, plan[index])
        children[index].quick_exits = quick
    return worst
