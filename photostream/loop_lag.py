"""How late an event loop runs what is due: a probe that asks to wake every ``PERIOD_S`` and records by how
much it woke late (``photostream_event_loop_lag_seconds{loop}``), in the API and in the worker.

Why: an asyncio process serves everything on one thread, so a stretch of Python that holds it (a large batch's
decode, a full garbage collection, a blocking call) delays every request and every batch behind it, and no other
metric names that. Stop 50 looked for the API's latency tails with this probe (its p99 stayed under a few
milliseconds: the tails came from elsewhere); as a metric it answers the same question on a live deployment.
Ten wake-ups a second cost nothing measurable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from prometheus_client import Histogram

#: how often the probe asks to wake
PERIOD_S = 0.1

LOOP_LAG = Histogram(
    "photostream_event_loop_lag_seconds", "How late the event loop woke a probe due every 100 ms", ["loop"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


async def probe(observe: Callable[[float], None], period_s: float = PERIOD_S,
                clock: Callable[[], float] = time.perf_counter) -> None:
    """Forever: sleep ``period_s``, then ``observe`` how much later than asked the loop woke this task."""
    while True:
        asked = clock()
        await asyncio.sleep(period_s)
        observe(max(0.0, clock() - asked - period_s))


def start(loop_name: str) -> asyncio.Task[None]:
    """The probe of the running event loop, as a task (``loop_name``: its label, e.g. ``api``)."""
    return asyncio.get_running_loop().create_task(probe(LOOP_LAG.labels(loop_name).observe),
                                                  name=f"event-loop-lag-{loop_name}")
