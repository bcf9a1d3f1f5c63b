"""The benchmark's count of what a processor asks of Cassandra: rows written, requests, reads."""

from __future__ import annotations

from typing import Any

from cassandra.query import BatchStatement, SimpleStatement

from benchmarks.cassandra_load import CountingSession
from benchmarks.pipeline_throughput import driver_bound_ratio


class _Session:
    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.keyspace = "ks"

    def execute_async(self, statement: Any, *args: Any, **kwargs: Any) -> str:
        self.sent.append(statement)
        return "future"


def test_every_statement_of_a_batch_is_a_row_and_the_batch_one_request() -> None:
    inner = _Session()
    counting = CountingSession(inner)  # type: ignore[arg-type]
    batch = BatchStatement()
    for i in range(3):
        batch.add("INSERT INTO t (k) VALUES (%s)", (i,))
    assert counting.execute_async(batch) == "future"
    counting.execute_async(SimpleStatement("UPDATE t SET v = 1 WHERE k = 1"))
    counting.execute_async(SimpleStatement("  select v FROM t WHERE k = 1"), None, paging_state=None)
    counting.execute_async("SELECT v FROM t")

    assert (counting.load.requests, counting.load.rows_written, counting.load.reads) == (4, 4, 2)
    assert counting.load.per_event(2) == (2.0, 2.0)
    assert len(inner.sent) == 4 and counting.keyspace == "ks"  # passed through, the rest delegated


def test_the_driver_bound_counts_the_raw_loop_and_the_driver_cpu_of_every_row() -> None:
    # raw loop 3 µs an event; 1.5 rows an event at 6 µs each: 3 ÷ (3 + 9)
    assert driver_bound_ratio(3.0, 1.5, 6.0) == 0.25
    # a processor that writes nothing is bound only by the raw loop itself
    assert driver_bound_ratio(3.0, 0.0, 6.0) == 1.0
    # fewer rows an event raise the bound: the lever a changelog state model pulls
    assert driver_bound_ratio(3.0, 0.1, 6.0) > driver_bound_ratio(3.0, 1.0, 6.0)
