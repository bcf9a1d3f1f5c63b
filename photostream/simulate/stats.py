"""What the simulator measures itself: request latencies per route kind, event ages from read-your-writes
probes, outcomes per action. Samples are kept with their time so the live view shows the last
``window_s`` seconds and the final summary the whole run (the newest ``keep`` samples of each series)."""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable


def percentile(values: Iterable[float], q: float) -> float | None:
    """The nearest-rank percentile (None without samples)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


class Series:
    def __init__(self, keep: int = 50_000) -> None:
        self.samples: deque[tuple[float, float]] = deque(maxlen=keep)

    def add(self, at: float, value: float) -> None:
        self.samples.append((at, value))

    def p(self, q: float, since: float | None = None) -> float | None:
        return percentile((v for t, v in self.samples if since is None or t >= since), q)

    def count(self, since: float | None = None) -> int:
        return sum(1 for t, _ in self.samples if since is None or t >= since)


class Stats:
    def __init__(self, clock: Callable[[], float] = time.monotonic, window_s: float = 30.0) -> None:
        self.clock, self.window_s = clock, window_s
        self.started = clock()
        self.latency: dict[str, Series] = {}
        self.age = Series()
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (action kind, ok|throttled|refused|failed|skipped)

    def request(self, kind: str, seconds: float) -> None:
        self.latency.setdefault(kind, Series()).add(self.clock(), seconds)

    def applied(self, seconds: float) -> None:
        """A write became readable ``seconds`` after the API accepted it."""
        self.age.add(self.clock(), seconds)

    def outcome(self, kind: str, result: str) -> None:
        self.outcomes[(kind, result)] += 1

    def recent_since(self, whole_run: bool) -> float | None:
        return None if whole_run else self.clock() - self.window_s

    def done(self, result: str = "ok") -> int:
        return sum(n for (_, r), n in self.outcomes.items() if r == result)
