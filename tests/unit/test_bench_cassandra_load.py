"""The benchmark's count of what a processor asks of Cassandra: rows written, requests, reads."""

from __future__ import annotations

from typing import Any

from cassandra.query import BatchStatement, SimpleStatement

from benchmarks.cassandra_load import CountingSession


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
