"""CPU accounting from /proc: a process's CPU seconds, the machine's busy seconds, and noisy neighbours.

On a 2-core box shared with Kafka, Cassandra and possibly other people's workers, a throughput figure means
little without knowing who else was burning CPU meanwhile, so every phase can be bracketed by a
:class:`CpuWindow`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def process_cpu_s(pid: int) -> float | None:
    """utime + stime of ``pid`` (all its threads), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def machine_busy_s() -> float:
    """CPU seconds spent not idle, summed over all cores, since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / _TICK


#: a machine below this share of its cores busy is quiet enough for the next benchmark step
QUIET_BELOW = 0.25


def wait_for_quiet(max_s: float = 60.0, window_s: float = 1.0, quiet_below: float = QUIET_BELOW) -> tuple[float, float]:
    """Measure the machine's busy share over consecutive ``window_s`` windows until one is below
    ``quiet_below`` or ``max_s`` passed; returns (seconds waited, the last window's busy share).

    Why: a step can leave work behind it (the unread step closes 10,000 WebSockets, Cassandra compacts what a
    throughput step wrote), and the next step's latency tails would measure that instead of themselves. (In
    the runs so far the machine was always quiet after one second: the swings between runs happen within
    steps.)"""
    cores = os.cpu_count() or 1
    started = time.monotonic()
    while True:
        busy0, at0 = machine_busy_s(), time.monotonic()
        time.sleep(window_s)  # a measurement window, not a wait for an event
        share = (machine_busy_s() - busy0) / ((time.monotonic() - at0) * cores)
        waited = time.monotonic() - started
        if share < quiet_below or waited >= max_s:
            return waited, share


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def photostream_processes(exclude: set[int]) -> dict[int, str]:
    """Other photostream workers, APIs and test runs on this machine (read-only look at /proc)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        line = cmdline(int(entry.name))
        if ("photostream" in line and any(word in line for word in (" worker", " api"))) or "pytest" in line:
            found[int(entry.name)] = line[:80]
    return found


def stack_pids(stack_dir: Path) -> dict[str, int]:
    """The stack's service pids as `stack up` recorded them."""
    pids = {}
    for name in ("kafka", "cassandra", "redis"):
        try:
            pids[name] = int((stack_dir / "run" / f"{name}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
    return pids


@dataclass
class CpuWindow:
    """CPU used between construction and :meth:`close` by us, named processes, the machine, and neighbours."""

    tracked: dict[str, int]
    ours: set[int] = field(default_factory=set)
    _start: dict[str, float | None] = field(default_factory=dict)
    _neighbours: dict[int, tuple[str, float | None]] = field(default_factory=dict)
    _machine: float = 0.0
    _wall: float = 0.0
    used: dict[str, float] = field(default_factory=dict)
    neighbours: dict[str, float] = field(default_factory=dict)
    machine_s: float = 0.0
    wall_s: float = 0.0

    def __post_init__(self) -> None:
        self._wall = time.monotonic()
        self._machine = machine_busy_s()
        self._start = {name: process_cpu_s(pid) for name, pid in self.tracked.items()}
        exclude = {os.getpid(), *self.ours, *self.tracked.values()}
        self._neighbours = {pid: (line, process_cpu_s(pid)) for pid, line in photostream_processes(exclude).items()}

    def close(self) -> CpuWindow:
        self.wall_s = time.monotonic() - self._wall
        self.machine_s = machine_busy_s() - self._machine
        for name, pid in self.tracked.items():
            before, after = self._start[name], process_cpu_s(pid)
            if before is not None and after is not None:
                self.used[name] = after - before
        for pid, (line, before) in self._neighbours.items():
            after = process_cpu_s(pid)
            if before is not None and after is not None and after - before >= 0.05:
                self.neighbours[f"pid {pid} `{line}`"] = after - before
        return self

    def describe(self) -> str:
        """One line for the report: who used how many CPU-seconds over the window."""
        parts = [f"machine {self.machine_s:.1f} CPU-s over {self.wall_s:.1f} s wall "
                 f"({self.machine_s / max(self.wall_s, 1e-9):.2f} of {os.cpu_count()} cores busy)"]
        parts += [f"{name} {seconds:.1f}" for name, seconds in self.used.items()]
        if self.neighbours:
            parts.append("**other photostream processes** " + ", ".join(
                f"{who} {seconds:.1f}" for who, seconds in self.neighbours.items()))
        else:
            parts.append("no other photostream process used CPU")
        return "CPU-s: " + "; ".join(parts)
