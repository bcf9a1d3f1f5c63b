"""The read benchmarks' rows: each p99 at half the saturation rate is quoted with how busy the machine was."""

from __future__ import annotations

from benchmarks.api_reads import ReadLoad, rows
from benchmarks.feeds_api import Load
from benchmarks.stats import Distribution


def _load(rate: float, p99_ms: float, busy: float) -> Load:
    latency = Distribution.of([1.0] * 98 + [p99_ms] * 2)
    return Load(latency, rate, {"200": 100}, {}, cpu_us=200.0, generator_cpu_s=0.5, machine_busy=busy)


def test_the_p99_row_names_the_machines_load_for_the_endpoint_and_its_baseline() -> None:
    endpoint = ReadLoad(_load(4000, 3.0, 0.97), _load(2000, 12.5, 0.71), 2000)
    baseline = ReadLoad(_load(16000, 2.0, 0.99), _load(2000, 2.5, 0.23), 2000)

    saturation, at_half = rows("GET /x", 2, endpoint, baseline, "/healthz", p99_goal_ms=10)

    assert saturation[1] == "4,000/s" and "(2 processes)" in saturation[0]
    assert at_half[1].endswith("(machine 71% busy)") and at_half[1].startswith("12.5")
    assert at_half[2].endswith("(machine 23% busy)")
    assert "missed" in at_half[4]


def test_a_baseline_driven_at_half_its_own_saturation_adds_a_row_saying_whether_it_meets_the_goal() -> None:
    """The goal's definition applied to the baseline: the p99 the machine gives a cheap endpoint at the same
    utilisation, so a reader can tell an application's tail from the box's."""
    endpoint = ReadLoad(_load(4000, 12.5, 0.97), _load(2000, 12.5, 0.61), 2000)
    baseline = ReadLoad(_load(16000, 2.0, 0.99), _load(2000, 2.5, 0.23), 2000, at_own_half=_load(8000, 6.0, 0.58))

    _, _, own = rows("GET /x", 2, endpoint, baseline, "bare", p99_goal_ms=5)

    assert own[1].startswith("12.5") and own[1].endswith("(machine 61% busy)")
    assert own[2] == "bare at 8,000/s: 6.00 ms (machine 58% busy)"
    assert own[3] == "2.08×" and own[4] == "the baseline misses < 5 ms"
    without = ReadLoad(baseline.saturated, baseline.at_half, baseline.rate)
    assert len(rows("GET /x", 2, endpoint, without, "bare", p99_goal_ms=5)) == 2
