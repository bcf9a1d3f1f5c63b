"""The event-loop lag probe: a loop held by a blocking stretch is measured as late by about that stretch."""

from __future__ import annotations

import asyncio
import time

from photostream import loop_lag


async def test_a_stretch_that_holds_the_loop_is_observed_as_lag() -> None:
    seen: list[float] = []
    observed = asyncio.Event()

    def observe(late_s: float) -> None:
        seen.append(late_s)
        observed.set()

    probe = asyncio.create_task(loop_lag.probe(observe, period_s=0.01))
    await asyncio.sleep(0)  # the probe runs up to its first sleep, which is now due in 10 ms
    time.sleep(0.08)  # the loop is held (as a long decode or a blocking call would hold it)
    await observed.wait()
    probe.cancel()
    assert 0.065 <= seen[0] < 1.0


async def test_a_free_loop_is_observed_on_time() -> None:
    seen: list[float] = []
    enough = asyncio.Event()

    def observe(late_s: float) -> None:
        seen.append(late_s)
        if len(seen) == 5:
            enough.set()

    probe = asyncio.create_task(loop_lag.probe(observe, period_s=0.001))
    await enough.wait()
    probe.cancel()
    assert min(seen) < 0.05 and all(late >= 0 for late in seen)
