"""What a processor asks of Cassandra, and the most Cassandra can take on this machine (a same-run baseline).

Why: a processor that writes *r* durable rows per event can go no faster than Cassandra's upsert rate ÷ *r*,
whatever its own code costs. The throughput benchmarks report, next to each processor, the rows it wrote and
the requests it sent per event (:class:`CountingSession`), and the *Cassandra-bound ceiling* that follows
from :func:`upsert_ceiling`: single-row upserts, grouped and bound as the sinks group and bind them (UNLOGGED
batches of ``sinks.cassandra.GROUP_SIZE``, many in flight, :func:`sinks.cassandra_binding.add_bound`), from this
process with the same driver, into a scratch table of the run's keyspace (dropped with it). Each row is its own
partition: the worst case. Rows of one partition sent side by side (``sinks.cassandra.by_partition``) are one
mutation and cost Cassandra several times less, so a processor whose batches touch few partitions (comments on
the same posts) can pass this ceiling.

The same pass also times the *client's* side: this process's CPU (all threads: the driver's event loop
included) per row bound, batched and sent. That cost is paid by the processor's own process whatever Cassandra
does, so a processor writing *r* rows per event spends at least the raw loop's CPU per event plus *r* times it:
the *driver-bound ceiling* (on a machine where Cassandra runs elsewhere, the one that remains).
"""

from __future__ import annotations

import gc
import time
import uuid
from dataclasses import dataclass
from typing import Any

import cassandra
from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType

from photostream.settings import Settings
from sinks.cassandra import GROUP_SIZE, connect
from sinks.cassandra_binding import add_bound

IN_FLIGHT = 64
#: rows upserted unmeasured first: right after a start Cassandra's JIT needs far more (~1M rows) to settle,
#: this takes off the worst of it (measured: 15k rows/s in a first pass after a restart, ~34k once warm)
WARM_UP_ROWS = 40_000
MEASURED_ROWS = 100_000


@dataclass
class CassandraLoad:
    """Requests sent, rows written (each statement of a batch, each non-SELECT statement) and reads."""

    requests: int = 0
    rows_written: int = 0
    reads: int = 0

    def per_event(self, events: int) -> tuple[float, float]:
        """(rows written, requests) per event."""
        return self.rows_written / max(events, 1), self.requests / max(events, 1)


def _is_read(statement: Any) -> bool:
    prepared = getattr(statement, "prepared_statement", None)
    text = prepared.query_string if prepared is not None else getattr(statement, "query_string", statement)
    return isinstance(text, str) and text.lstrip()[:6].upper() == "SELECT"


class CountingSession:
    """A driver ``Session`` that counts every request the sinks send through it (they all use
    ``execute_async``: :func:`sinks.cassandra.execute`); everything else is the wrapped session's."""

    def __init__(self, inner: Session) -> None:
        self._inner = inner
        self.load = CassandraLoad()

    def execute_async(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        self.load.requests += 1
        if isinstance(statement, BatchStatement):
            self.load.rows_written += len(statement._statements_and_parameters)
        elif _is_read(statement):
            self.load.reads += 1
        else:
            self.load.rows_written += 1
        return self._inner.execute_async(statement, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@dataclass(frozen=True)
class UpsertCeiling:
    """What one driver process measured: single-row upserts per second, and its own CPU per row."""

    rows_per_s: float
    client_us_per_row: float  # this process, every thread: binding, batching, encoding, sending, answers


def upsert_ceiling(session: Session, rows: int = MEASURED_ROWS, warm_up: int = WARM_UP_ROWS) -> UpsertCeiling:
    """Single-row upserts per second Cassandra takes from one driver process, after a warm-up pass, and the
    process's CPU per row meanwhile (the rows' values are made before either clock starts)."""
    session.execute("CREATE TABLE IF NOT EXISTS bench_upsert_ceiling (k text, c text, author text, at bigint, "
                    "flag boolean, PRIMARY KEY (k, c))")
    insert = session.prepare("INSERT INTO bench_upsert_ceiling (k, c, author, at, flag) VALUES (?, ?, ?, ?, ?)")
    run = uuid.uuid4().hex[:8]

    def upsert(count: int) -> UpsertCeiling:
        values = [(f"{run}-{i % 2000}", str(uuid.uuid4()), "author", i, True) for i in range(count)]
        started, cpu_started = time.perf_counter(), time.process_time()
        in_flight: list[Any] = []
        for i in range(0, count, GROUP_SIZE):
            batch = BatchStatement(batch_type=BatchType.UNLOGGED)
            for row in values[i:i + GROUP_SIZE]:
                add_bound(batch, insert, row)  # as the sinks bind (sinks.cassandra_binding)
            in_flight.append(session.execute_async(batch))
            if len(in_flight) >= IN_FLIGHT:
                in_flight.pop(0).result()
        for future in in_flight:
            future.result()
        return UpsertCeiling(count / (time.perf_counter() - started),
                             (time.process_time() - cpu_started) / count * 1e6)

    upsert(warm_up)
    # the benchmark process holds every earlier step's objects; a full collection walking them during the pass
    # would be counted as the driver's CPU (a worker freezes its start-up objects: photostream.gc_tuning)
    gc.collect()
    gc.disable()
    try:
        return upsert(rows)
    finally:
        gc.enable()


def measure_ceiling(settings: Settings) -> UpsertCeiling:
    """:func:`upsert_ceiling` on a session of its own in the settings' keyspace (the run's)."""
    cluster, session = connect(settings)
    try:
        return upsert_ceiling(session)
    finally:
        cluster.shutdown()


def ceiling_note(ceiling: UpsertCeiling) -> str:
    return (f"Cassandra's upsert ceiling in this run: {ceiling.rows_per_s:,.0f} single-row upserts/s (UNLOGGED "
            f"batches of {GROUP_SIZE}, {IN_FLIGHT} in flight, one driver process, after {WARM_UP_ROWS:,} warm-up "
            "rows). A processor writing r rows per event, each in a partition of its own, can go no faster than "
            "that ÷ r, whatever its own code costs: the 'Cassandra-bound ceiling' rows (rows that share a "
            "partition in a batch are one mutation and cost less). The driver's own CPU in that pass: "
            f"{ceiling.client_us_per_row:.1f} µs per row in the sending process (bound as the sinks bind, "
            f"cassandra-driver {cassandra.__version__}, its Cython extensions loaded); a processor writing r rows "
            "per event spends at least the raw loop's CPU per event plus r times that, which bounds its ratio on any "
            "machine: the 'driver-bound ceiling' rows (CPU of the raw loop ÷ that sum).")
