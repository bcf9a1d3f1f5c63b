"""GET /api/v1/feed (20 hydrated items) against a bare Starlette JSON endpoint served the same way.

``processes`` server processes share one port (:mod:`benchmarks.feeds_serve`), for the API and then for the
bare endpoint (whose body is a captured feed page of the same readers). Each is driven by
:mod:`benchmarks.feeds_load` in its own process: closed loop (64 connections back to back) for the saturation
rate, then open loop at half the API's saturation rate for the p99. API CPU per request = the server
processes' CPU-seconds over a load ÷ requests answered. Readers rotate over users whose feed holds ≥ 20 posts;
profiles, posts and counts are warm in Redis (one pass over every reader first), as for an active user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.auth import mint_access_token
from benchmarks.cpu import machine_busy_s, process_cpu_s, wait_for_quiet
from benchmarks.env import BIN, AppProcess, BenchEnv, BenchError, free_port
from benchmarks.feeds_serve import LISTENING
from benchmarks.stats import Distribution
from photostream.settings import PROJECT_ROOT, Settings

SATURATION_CONNECTIONS = 64


class Server(AppProcess):
    """A :mod:`benchmarks.feeds_serve` process (AppProcess' life cycle, another command)."""

    def __init__(self, name: str, kind: str, port: int, env: dict[str, str], log: Path, ready_url: str,
                 headers: dict[str, str] | None = None) -> None:
        import subprocess as sp
        import time

        self.name, self.log, self.ready_url = name, log, ready_url
        self._file = open(log, "ab")  # noqa: SIM115 - closed in stop()
        logged_from = self._file.tell()
        self.proc = sp.Popen([str(BIN / "python"), "-m", "benchmarks.feeds_serve", kind, str(port)], env=env,
                             stdout=self._file, stderr=sp.STDOUT, cwd=PROJECT_ROOT, start_new_session=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(f"{name} exited ({self.proc.returncode}):\n{self.tail()}")
            # The port is shared (SO_REUSEPORT): a sibling already listening answers the ready URL for this one,
            # so this process's own log must say it listens too. Without that, load started while the second
            # process was still importing, and the closed loop's connections, opened once, all stayed on the first.
            if self._listening(logged_from):
                try:
                    if httpx.get(ready_url, timeout=2, headers=headers).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
        self.stop()
        raise BenchError(f"{name}: {ready_url} not ready:\n{self.tail()}")

    def _listening(self, logged_from: int) -> bool:
        """The process printed :data:`benchmarks.feeds_serve.LISTENING` (after the app's start-up)."""
        with open(self.log, "rb") as log:
            log.seek(logged_from)
            return LISTENING.encode() in log.read()


@dataclass
class Load:
    latency: Distribution
    rate: float
    statuses: dict[str, int]
    errors: dict[str, int]
    cpu_us: float
    generator_cpu_s: float
    settled_s: float = 0.0  # waited for a quiet machine before this load (see Servers.drive)
    #: the machine's busy share of all its cores while the load ran (servers, generator, stores, anyone else):
    #: a tail at "half the saturation rate" is a tail at whatever utilisation that rate makes
    machine_busy: float = 0.0


#: the longest wait for a quiet machine before a load (then it runs anyway, and the wait is reported)
SETTLE_MAX_S = 20.0


class Servers:
    """``count`` server processes of one kind on one port, started and stopped together."""

    def __init__(self, bench: BenchEnv, kind: str, count: int, env: dict[str, str], path: str,
                 headers: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.bench = bench
        self.processes: list[AppProcess] = []
        try:
            for i in range(count):
                server = Server(f"{kind}-{i}", kind, self.port, env, bench.tmp / f"feeds-{kind}-{i}.log",
                                f"http://127.0.0.1:{self.port}{path}", headers)
                bench.processes.append(server)
                self.processes.append(server)
        except BaseException:
            self.stop()
            raise

    def cpu_s(self) -> float:
        return sum(process_cpu_s(p.pid) or 0.0 for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            self.bench.stop(process)

    def drive(self, targets: Path, mode: str, duration_s: float, rate: float = 0.0) -> Load:
        """One load of ``targets``, started once the machine is quiet (:func:`benchmarks.cpu.wait_for_quiet`):
        a section's earlier parts leave work behind them (Cassandra flushing the unread step's writes, 10,000
        WebSockets closing), and a tail measured beside that work was partly its."""
        settled_s, _ = wait_for_quiet(max_s=SETTLE_MAX_S)
        command = [sys.executable, "-m", "benchmarks.feeds_load", f"http://127.0.0.1:{self.port}",
                   "--targets", str(targets), "--mode", mode, "--duration", str(duration_s), "--warmup", "1",
                   "--connections", str(SATURATION_CONNECTIONS if mode == "closed" else 16)]
        if rate:
            command += ["--rate", str(rate)]
        cpu0, busy0, wall0 = self.cpu_s(), machine_busy_s(), time.monotonic()
        done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT,
                              timeout=duration_s + 120, check=False)
        cpu = self.cpu_s() - cpu0
        busy = (machine_busy_s() - busy0) / ((time.monotonic() - wall0) * (os.cpu_count() or 1))
        if done.returncode != 0:
            raise BenchError(f"feeds_load failed: {done.stderr[-2000:]}")
        data: dict[str, Any] = json.loads(done.stdout)
        answered = len(data["latency_ms"])
        sent_total = answered * (1 + 1 / duration_s)  # the warm-up second's requests used CPU too (≈ rate)
        return Load(Distribution.of(data["latency_ms"]), answered / max(data["window_s"], 1e-9),
                    data["statuses"], data["errors"], cpu / max(sent_total, 1) * 1e6, data["generator_cpu_s"],
                    settled_s, busy)


def api_env(bench: BenchEnv, settings: Settings, worker_env: dict[str, str]) -> dict[str, str]:
    env = dict(worker_env) | {
        "PHOTOSTREAM_RATE_LIMIT_READS_PER_SECOND": "1000000", "PHOTOSTREAM_RATE_LIMIT_READS_BURST": "1000000",
    }
    return env


def targets_file(bench: BenchEnv, settings: Settings, name: str, readers: list[str], path: str) -> Path:
    """``[path, token]`` per reader for :mod:`benchmarks.feeds_load`; ``{reader}`` in ``path`` becomes the reader's
    id (a per-user route such as ``/users/{reader}/status``)."""
    out = bench.tmp / f"feeds-targets-{name}.json"
    out.write_text(json.dumps([[path.replace("{reader}", r), mint_access_token(settings, r)] for r in readers]))
    return out


def warm(port: int, settings: Settings, readers: list[str], limit: int) -> dict[str, Any]:
    """One read per reader (fills the post, profile and count caches); returns one page as captured."""
    page: dict[str, Any] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30) as client:
        for reader in readers:
            answer = client.get("/feed", params={"limit": limit},
                                headers={"Authorization": f"Bearer {mint_access_token(settings, reader)}"})
            if answer.status_code != 200:
                raise BenchError(f"GET /feed answered {answer.status_code}: {answer.text[:300]}")
            if len(answer.json()["items"]) == limit:
                page = answer.json()
    if not page:
        raise BenchError(f"no reader's feed had {limit} hydrated items")
    return page
