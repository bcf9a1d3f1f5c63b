"""One authenticated GET's saturation rate and its p99 at half that rate, each beside a baseline driven the same way.

Shared by the sections that quote a read endpoint this way (7: ``GET /users/{id}/status``, 8: the bare
baseline of ``GET /feed``, 11: ``GET /notifications``), over :mod:`benchmarks.feeds_api`'s servers and load
generator: a closed loop (:data:`benchmarks.feeds_api.SATURATION_CONNECTIONS` connections back to back) gives the
saturation rate, then an open loop at half of it gives the p99. The baseline (``/healthz`` on the same processes,
or a bare Starlette endpoint serving a captured body the same way) gets the same closed loop, and its open loop
runs at the *endpoint's* half rate, so both p99s are taken at one request rate. A third load drives the baseline
at half *its own* saturation rate: the goal's own definition applied to the cheapest endpoint served this way.
A cheap endpoint at the endpoint's rate leaves the shared cores mostly idle (bare status at 21% busy against the
API's 59%); at its own half rate it loads them as the endpoint did, so its p99 says what tail this machine, this
server and this load generator give at that utilisation, whatever the application costs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from api.auth import mint_access_token
from benchmarks.env import BenchEnv, BenchError
from benchmarks.feeds_api import Load, Servers, targets_file
from benchmarks.stats import fmt_ms, fmt_rate, fmt_ratio, ratio, verdict
from photostream.settings import Settings


@dataclass(frozen=True)
class ReadLoad:
    """A target's closed-loop (saturation) load and its open-loop load at ``rate`` requests/s."""

    saturated: Load
    at_half: Load
    rate: float
    #: a baseline's open loop at half its own saturation rate (None for the endpoint measured)
    at_own_half: Load | None = None


def saturate_then_half(servers: Servers, targets: Path, duration_s: float, rate: float = 0.0) -> ReadLoad:
    """Saturate ``targets`` on ``servers``, then drive them at ``rate`` (default: half the saturation rate); a
    baseline (``rate`` given) also at half its own saturation rate."""
    saturated = servers.drive(targets, "closed", duration_s)
    at_half = servers.drive(targets, "open", duration_s, rate=rate or saturated.rate / 2)
    own = servers.drive(targets, "open", duration_s, rate=saturated.rate / 2) if rate else None
    return ReadLoad(saturated, at_half, rate or saturated.rate / 2, own)


def capture(port: int, settings: Settings, path: str, reader: str) -> Any:
    """One answer to ``GET path`` as ``reader`` (a body for the bare baseline to serve), failing unless 200."""
    answer = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=30,
                       headers={"Authorization": f"Bearer {mint_access_token(settings, reader)}"})
    if answer.status_code != 200:
        raise BenchError(f"GET {path} answered {answer.status_code}: {answer.text[:300]}")
    return answer.json()


def bare(bench: BenchEnv, settings: Settings, name: str, body: Any, processes: int, server_env: dict[str, str],
         duration_s: float, rate: float) -> ReadLoad:
    """``body`` served by ``processes`` bare Starlette processes (:mod:`benchmarks.feeds_serve`), saturated and
    then driven at ``rate``: the floor of serving those bytes the way the API is served."""
    body_file = bench.tmp / f"{name}-bare-body.json"
    body_file.write_text(json.dumps(body))
    targets = targets_file(bench, settings, f"{name}-bare", ["none"], "/bare")
    servers = Servers(bench, "bare", processes, server_env | {"PHOTOSTREAM_BENCH_BARE_BODY": str(body_file)}, "/bare")
    try:
        return saturate_then_half(servers, targets, duration_s, rate)
    finally:
        servers.stop()


def rows(name: str, processes: int, read: ReadLoad, base: ReadLoad, base_name: str,
         p99_goal_ms: float) -> list[list[str]]:
    """Two rows ``[measure, figure, baseline, ratio, goal]``: saturation, then p99 at half of it."""
    unit = "process" if processes == 1 else "processes"
    p99, base_p99 = read.at_half.latency.p99, base.at_half.latency.p99
    return [
        [f"{name} saturation ({processes} {unit})", fmt_rate(read.saturated.rate),
         f"{base_name}: {fmt_rate(base.saturated.rate)}", fmt_ratio(ratio(read.saturated.rate, base.saturated.rate)),
         "–"],
        [f"{name} p99 at half that rate ({read.rate:.0f}/s)", f"{fmt_ms(p99)} ({busy(read.at_half)})",
         f"{base_name} at the same rate: {fmt_ms(base_p99)} ({busy(base.at_half)})", fmt_ratio(ratio(p99, base_p99)),
         f"< {p99_goal_ms:g} ms — {verdict(p99 < p99_goal_ms)}"],
        *([own_half_row(name, read, base, base_name, p99_goal_ms)] if base.at_own_half else []),
    ]


def own_half_row(name: str, read: ReadLoad, base: ReadLoad, base_name: str, p99_goal_ms: float) -> list[str]:
    """``[measure, figure, baseline, ratio, goal]``: the endpoint's p99 at its half rate beside the baseline's p99
    at *its own* half rate (see the module docstring); the goal column says whether the baseline meets the goal."""
    assert base.at_own_half is not None
    own, p99 = base.at_own_half, read.at_half.latency.p99
    return [f"{name} p99 at half its saturation, beside the baseline at half its own",
            f"{fmt_ms(p99)} ({busy(read.at_half)})",
            f"{base_name} at {own.rate:,.0f}/s: {fmt_ms(own.latency.p99)} ({busy(own)})",
            fmt_ratio(ratio(p99, own.latency.p99)),
            f"the baseline {'meets' if own.latency.p99 < p99_goal_ms else 'misses'} < {p99_goal_ms:g} ms"]


def busy(load: Load) -> str:
    """How busy the machine was while the open loop ran: "half the saturation rate" of an endpoint that costs
    more CPU per request loads the shared cores more than the same rate of a cheaper one does, and the p99s are
    read beside that."""
    return f"machine {load.machine_busy:.0%} busy"


def problems(name: str, read: ReadLoad) -> list[str]:
    """Notes for answers other than 200 or transport errors in either load (empty when all were clean), and for a
    load that waited more than a window for the machine to quiet down."""
    notes = []
    loads = (("saturation", read.saturated), ("at half", read.at_half), ("at its own half", read.at_own_half))
    for mode, load in ((mode, load) for mode, load in loads if load is not None):
        if load.settled_s > 2.5:
            notes.append(f"{name} {mode}: started after {load.settled_s:.0f} s waiting for a quiet machine")
        if set(load.statuses) != {"200"} or load.errors:
            notes.append(f"{name} {mode}: statuses {load.statuses}, errors {load.errors or 'none'}")
    return notes
