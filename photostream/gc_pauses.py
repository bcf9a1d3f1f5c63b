"""How long the cyclic garbage collector stood this process still: ``photostream_gc_pause_seconds``, a
histogram by generation, on every process that serves ``/metrics`` (the API, the worker).

Why: a collection stops the event loop, and every request, push and batch of the process waits it out. The
loop-lag probe (:mod:`photostream.loop_lag`) shows that something stalled; this says when it was the collector,
which generation, and how long (1.3-1.9 s full collections in an API process holding 10,000 WebSockets were
found with a callback like this one, by hand).

The callback runs inside the collector, on whichever thread allocated: it only counts, into plain integers
(no lock: a collection can start while any lock of this process is held, a metric's included), and the
histogram is assembled when ``/metrics`` is scraped.
"""

from __future__ import annotations

import bisect
import gc
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import REGISTRY, HistogramMetricFamily
from prometheus_client.registry import Collector

#: upper bounds, seconds: a young collection takes well under a millisecond, a full one of millions of objects
#: seconds
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
GENERATIONS = 3


class GcPauses(Collector):
    """Counts each collection's duration into its generation's buckets (see the module docstring)."""

    def __init__(self, clock: Any = time.perf_counter) -> None:
        self._clock = clock
        self._started = 0.0
        self._counts = [[0] * (len(BUCKETS) + 1) for _ in range(GENERATIONS)]
        self._sums = [0.0] * GENERATIONS

    def callback(self, phase: str, info: dict[str, int]) -> None:
        """A ``gc.callbacks`` entry."""
        if phase == "start":
            self._started = self._clock()
            return
        paused = self._clock() - self._started
        generation = info["generation"]
        self._counts[generation][bisect.bisect_left(BUCKETS, paused)] += 1
        self._sums[generation] += paused

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily("photostream_gc_pause_seconds",
                                       "How long each cyclic garbage collection stood the process still",
                                       labels=["generation"])
        for generation in range(GENERATIONS):
            counts, running = self._counts[generation], 0
            buckets = []
            for bound, count in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
                running += count
                buckets.append((bound, running))
            family.add_metric([str(generation)], buckets, self._sums[generation])
        yield family


_watching: GcPauses | None = None


def watch_pauses() -> GcPauses:
    """Start counting this process's collections (once: later calls return the same collector)."""
    global _watching
    if _watching is None:
        _watching = GcPauses()
        gc.callbacks.append(_watching.callback)
        REGISTRY.register(_watching)
    return _watching
