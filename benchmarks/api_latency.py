"""Benchmark 5: GET /api/v1/hashtags/{tag} at a constant 1k requests/s, vs the same load's floors.

A real `photostream api` subprocess (the run's keyspace and Redis DB, hot tags filled by the worker) is
driven by :mod:`benchmarks.loadgen` in its own process, open-loop at a fixed rate, latency measured from each
request's scheduled instant. Baselines in the same run, through the same generator at the same rate:
``GET /healthz`` (the HTTP framework's floor: no I/O) and a raw Redis ``HGET`` of the same tags' counts
(the cache's floor).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

from benchmarks.cpu import process_cpu_s
from benchmarks.env import AppProcess, BenchEnv, BenchError
from benchmarks.loadgen import MAX_CONNECTIONS
from benchmarks.report import Section, from_docstring
from benchmarks.stats import Distribution, fmt_ms, fmt_rate, fmt_ratio, fmt_us, ratio, verdict
from benchmarks.visibility_latency import Worker
from photostream.settings import PROJECT_ROOT
from sinks import keys

GOAL_P99_MS = 10.0


@dataclass
class Load:
    """One constant-rate run as the generator reported it, plus the API's CPU over it."""

    name: str
    latency: Distribution
    service: Distribution
    lateness: Distribution
    achieved_rate: float
    errors: dict[str, int]
    statuses: dict[str, int]
    generator_cpu_s: float
    api_cpu_us: float = math.nan
    api_exceptions: dict[str, int] = field(default_factory=dict)


def drive(url: str, targets: list[str], rate: float, duration_s: float, api: AppProcess | None, name: str) -> Load:
    before = process_cpu_s(api.pid) if api else None
    raised = api.exceptions() if api else {}
    command = [sys.executable, "-m", "benchmarks.loadgen", url, "--targets", ",".join(targets),
               "--rate", str(rate), "--duration", str(duration_s), "--warmup", "1"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=duration_s + 90,
                          check=False)
    if done.returncode != 0:
        raise BenchError(f"load generator failed: {done.stderr[-2000:]}")
    after = process_cpu_s(api.pid) if api else None
    data: dict[str, Any] = json.loads(done.stdout)
    completed = len(data["latency_ms"])
    load = Load(name, Distribution.of(data["latency_ms"]), Distribution.of(data["service_ms"]),
                Distribution.of(data["lateness_ms"]), completed / max(data["complete_window_s"], 1e-9),
                data["errors"], data["statuses"], data["generator_cpu_s"])
    if api:
        load.api_exceptions = {k: v - raised.get(k, 0) for k, v in api.exceptions().items() if v > raised.get(k, 0)}
    if before is not None and after is not None:
        load.api_cpu_us = (after - before) / (rate * (duration_s + 1)) * 1e6  # warm-up requests included
    return load


def run(bench: BenchEnv, worker: Worker, rate: float, duration_s: float) -> Section:
    section = Section(
        f"5. GET /api/v1/hashtags/{{tag}} at {rate:g} requests/s",
        from_docstring(__doc__),
        ["measure", "GET /hashtags/{tag}", "GET /healthz (baseline)", "ratio", "Redis HGET (baseline)", "ratio"],
    )
    tags = list(worker.hot_tags)
    if not tags:
        raise BenchError("no hot tags were filled")
    env = dict(worker.env)
    api = bench.start("api", ["api"], env, f"http://127.0.0.1:{env['PHOTOSTREAM_API_PORT']}/readyz")
    base_url = f"http://127.0.0.1:{env['PHOTOSTREAM_API_PORT']}"
    try:
        health = drive(base_url, ["/healthz"], rate, duration_s, api, "healthz")
        hget = drive(worker.settings.redis_url, [keys.hashtag(t) for t in tags], rate, duration_s, None, "hget")
        page = drive(base_url, [f"/api/v1/hashtags/{t}" for t in tags], rate, duration_s, api, "hashtag")
    finally:
        bench.stop(api)

    for label, attr in (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("max", "max")):
        v, h, r = (getattr(x.latency, attr) for x in (page, health, hget))
        section.rows.append([f"latency {label}", fmt_ms(v), fmt_ms(h), fmt_ratio(ratio(v, h)), fmt_ms(r),
                             fmt_ratio(ratio(v, r))])
    section.rows.append(["achieved rate", fmt_rate(page.achieved_rate), fmt_rate(health.achieved_rate),
                         fmt_ratio(ratio(page.achieved_rate, health.achieved_rate)), fmt_rate(hget.achieved_rate),
                         fmt_ratio(ratio(page.achieved_rate, hget.achieved_rate))])
    section.rows.append(["API CPU per request sent", fmt_us(page.api_cpu_us), fmt_us(health.api_cpu_us),
                         fmt_ratio(ratio(page.api_cpu_us, health.api_cpu_us)), "–", "–"])
    section.rows.append([f"goal p99 < {GOAL_P99_MS:g} ms", verdict(page.latency.p99 < GOAL_P99_MS), "", "", "", ""])
    for load in (page, health, hget):
        section.notes.append(
            f"{load.name}: {load.latency.count:,} answers {load.statuses}, errors {load.errors or 'none'}; "
            f"service time (sent → answered) p50 {fmt_ms(load.service.p50)} p99 {fmt_ms(load.service.p99)}; "
            f"scheduled → sent (timer slack, or all {MAX_CONNECTIONS} connections busy) p99 "
            f"{fmt_ms(load.lateness.p99)} max {fmt_ms(load.lateness.max)}; generator CPU "
            f"{load.generator_cpu_s:.1f} s"
            + (f"; **exceptions in the API log: {load.api_exceptions}**" if load.api_exceptions else "") + ".")
    section.notes.append(f"one API process at {fmt_us(page.api_cpu_us)} CPU per hashtag request can serve at most "
                         f"~{fmt_rate(ratio(1e6, page.api_cpu_us))} on one core (/healthz: "
                         f"~{fmt_rate(ratio(1e6, health.api_cpu_us))}); this box has 2 cores for everything.")
    section.notes.append(f"{len(tags)} hot tags {worker.hot_tags}, requests rotate over them; "
                         f"{duration_s:g} s measured after 1 s of warm-up at the same rate.")
    section.summary.append(f"p99 {fmt_ms(page.latency.p99)} (goal < {GOAL_P99_MS:g} ms) at "
                           f"{fmt_rate(page.achieved_rate)}; /healthz p99 {fmt_ms(health.latency.p99)}, "
                           f"HGET p99 {fmt_ms(hget.latency.p99)}")
    return section
