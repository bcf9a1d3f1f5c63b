"""The cyclic garbage collector's settings for long-running processes (the worker, the API, benchmarks that
drive the real loop in-process).

Why: CPython's full (generation 2) collection walks every tracked object. Once the Cassandra driver, faust,
pydantic models and a 5,000-record batch are loaded, that is millions of objects and ~300 ms per pass, during
which the event loop stands still (a measured notifications run spent a fifth of its time there). Almost all of
those objects live as long as the process, so after start-up they are moved out of the collector's sight
(:func:`gc.freeze`), and the youngest generation is collected less often: a batch allocates many short-lived
objects that reference counting frees anyway, and collecting them early only promotes the survivors.
Cycles are still collected; memory stays bounded.
"""

from __future__ import annotations

import gc

#: allocations (net of frees) between young collections; CPython's default is 700
YOUNG_THRESHOLD = 20_000


def settle_after_startup() -> None:
    """Call once the process has built its long-lived objects (connections, prepared statements, apps)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
