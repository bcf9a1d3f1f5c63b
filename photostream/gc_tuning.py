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
from collections.abc import Callable

from photostream.gc_pauses import watch_pauses

#: allocations (net of frees) between young collections; CPython's default is 700
YOUNG_THRESHOLD = 20_000
#: the API's: its pauses are its requests' and pushes' latency, so shorter and more often than a worker's
API_YOUNG_THRESHOLD = 2_000


def settle_after_startup(young_threshold: int = YOUNG_THRESHOLD) -> None:
    """Call once the process has built its long-lived objects (connections, prepared statements, apps). From
    then on its collections' pauses are counted (:mod:`photostream.gc_pauses`)."""
    watch_pauses()
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, old)


#: connections opened between two freezes by :class:`FreezeAsItGrows` (~200 tracked objects each)
FREEZE_EVERY_CONNECTIONS = 250
#: freezes between two thaws (100,000 connections opened): what a freeze may have caught of cyclic garbage is
#: collected then, at the price of one full collection of everything
THAW_EVERY_FREEZES = 400


def _full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


class FreezeAsItGrows:
    """Keeps what a process accumulates for hours out of its full collections as it accumulates: an API process
    holding 10,000 status WebSockets tracks ~200 objects for each, ~2 million, and a full collection walks
    them all. While they connected, each full collection stood the event loop still for 1.3-1.9 s (a gc
    callback in benchmark 7's API process), delaying every handshake and push of the process.

    Every :data:`FREEZE_EVERY_CONNECTIONS` connections opened, everything then tracked is frozen (``gc.freeze``,
    a constant-time move), so a full collection walks only what came since the last freeze. Frozen objects
    are still freed by reference counting when their connection closes; only reference *cycles* among them
    wait. Measured (benchmark 7's harness, three rounds of 10,000 sockets opened, held and closed): the frozen
    population fell back to the process's start-up size after every round, so closing a connection leaves no
    cycle behind. Garbage cycles of whatever else was alive at a freeze (a request in flight) would wait for
    good, so every :data:`THAW_EVERY_FREEZES` freezes everything is thawed instead (``gc.unfreeze``), and the
    next freeze waits until a full collection has swept it: one long pause per 100,000 connections opened, and
    memory bounded."""

    def __init__(self, every: int = FREEZE_EVERY_CONNECTIONS, thaw_every: int = THAW_EVERY_FREEZES,
                 freeze: Callable[[], None] = gc.freeze, unfreeze: Callable[[], None] = gc.unfreeze,
                 full_collections: Callable[[], int] = _full_collections) -> None:
        self._every, self._thaw_every = every, thaw_every
        self._freeze, self._unfreeze, self._full_collections = freeze, unfreeze, full_collections
        self._opened = self._freezes = 0
        #: full collections counted when everything was thawed (None: not waiting for one)
        self._thawed_at: int | None = None

    def opened(self) -> None:
        """A connection was opened (and registered): its objects are long-lived from now on."""
        self._opened += 1
        if self._opened < self._every:
            return
        if self._thawed_at is not None:
            if self._full_collections() == self._thawed_at:
                return  # (what was thawed is not swept yet)
            self._thawed_at = None
        self._opened = 0
        self._freezes += 1
        if self._freezes % self._thaw_every:
            self._freeze()
        else:
            self._unfreeze()
            self._thawed_at = self._full_collections()
