"""``sinks.cassandra.execute_grouped`` sends the rows of one partition side by side (one mutation for Cassandra,
the costly unit) and still writes every row, on real Cassandra: the partition keys come from the driver's
prepared statements, so a test without a server could not see them."""

from __future__ import annotations

from typing import Any

from cassandra.query import BatchStatement

from photostream.settings import Settings
from producers.ids import new_id
from sinks.cassandra import by_partition, connect, execute, execute_grouped, execute_partitions


async def test_rows_are_grouped_by_partition_and_all_written(settings: Settings) -> None:
    cluster, session = connect(settings)
    write = session.prepare("INSERT INTO likes_by_user (user_id, post_id) VALUES (?, ?)")
    read = session.prepare("SELECT post_id FROM likes_by_user WHERE user_id = ?")
    users = [new_id() for _ in range(3)]
    # interleaved: a, b, c, a, b, c, ... with 120 rows for the first user (more than one batch holds)
    rows = [(users[0], new_id()) for _ in range(120)] + [(u, new_id()) for u in users[1:] for _ in range(7)]
    interleaved = sorted(rows, key=lambda row: row[1])
    statements = [(write, row) for row in interleaved]
    try:
        chunks = by_partition(statements, 50)
        assert write.routing_key_indexes == [0]  # the driver knows user_id is the partition key
        keys_per_chunk = [{params[0] for _, params in chunk} for chunk in chunks]
        assert all(len(keys) == 1 for keys in keys_per_chunk), "a chunk mixes partitions"
        assert sorted(len(c) for c in chunks) == [7, 7, 20, 50, 50]  # the big partition split at 50
        assert len({next(iter(k)) for k in keys_per_chunk}) == 3
        first_seen = list(dict.fromkeys(user for user, _ in interleaved))
        order = list(dict.fromkeys(chunk[0][1][0] for chunk in chunks))
        assert order == first_seen  # partitions keep their order of first appearance

        sent: list[BatchStatement] = []

        async def run(batch: BatchStatement) -> Any:
            sent.append(batch)
            return await execute(session, batch)

        await execute_partitions(run, chunks, 50)
        # the big partition's three chunks and the two small partitions fill three batches of at most 50
        assert len(sent) == 3 and sorted(len(b) for b in sent) == [34, 50, 50]
        for user in users:
            written = {row.post_id for row in await execute(session, read, (user,))}
            assert written == {post for u, post in rows if u == user}
        await execute_grouped(session, [(write, (users[1], new_id()))])  # the public entry point, one row
        assert len(list(await execute(session, read, (users[1],)))) == 8
    finally:
        cluster.shutdown()
