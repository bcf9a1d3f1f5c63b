"""``sinks.cassandra_binding.add_bound`` puts exactly what the driver's ``BatchStatement.add`` puts into a batch
(on real Cassandra: the column types come from the server's prepared-statement metadata), and the rows it
binds land. A driver upgrade that changes the batch's internals fails here."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cassandra.query import BatchStatement, BatchType

from photostream.settings import Settings
from producers.ids import new_id
from sinks.cassandra import connect, execute
from sinks.cassandra_binding import add_bound


def _contents(batch: BatchStatement) -> list[tuple[bool, bytes, list[bytes | None]]]:
    return [(prepared, query, list(values)) for prepared, query, values in batch._statements_and_parameters]


async def test_the_fast_path_binds_what_the_driver_binds_and_the_rows_land(settings: Settings) -> None:
    cluster, session = connect(settings)
    write = session.prepare("INSERT INTO post_hashtags (post_id, author_id, tags, created_at) VALUES (?, ?, ?, ?)")
    read = session.prepare("SELECT author_id, tags, created_at FROM post_hashtags WHERE post_id = ?")
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    rows = [(new_id(), new_id(), ["tag", f"t{i}"], at) for i in range(5)] + [(new_id(), new_id(), None, None)]
    try:
        ours, drivers = BatchStatement(batch_type=BatchType.UNLOGGED), BatchStatement(batch_type=BatchType.UNLOGGED)
        for row in rows:
            add_bound(ours, write, row)
            drivers.add(write, row)
        assert _contents(ours) == _contents(drivers)
        assert (ours.routing_key, ours.keyspace) == (drivers.routing_key, drivers.keyspace)
        await execute(session, ours)
        for post_id, author_id, tags, created_at in rows:
            [found] = list(await execute(session, read, (post_id,)))
            assert (found.author_id, list(found.tags or []) or None) == (author_id, tags)
            assert (found.created_at.replace(tzinfo=UTC) if found.created_at else None) == created_at
    finally:
        cluster.shutdown()


def test_a_value_of_the_wrong_type_gets_the_drivers_error_naming_the_column(settings: Settings) -> None:
    cluster, session = connect(settings)
    write = session.prepare("INSERT INTO post_hashtags (post_id, author_id, tags, created_at) VALUES (?, ?, ?, ?)")
    try:
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        add_bound(batch, write, (new_id(), new_id(), ["a"], None))
        with pytest.raises(TypeError, match="created_at"):
            add_bound(batch, write, (new_id(), new_id(), ["a"], "not a time"))
        assert len(batch) == 1
    finally:
        cluster.shutdown()
