"""A finished Cassandra request leaves no reference cycle behind (``sinks.cassandra.execute``): reference
counting frees it, so the cyclic collector's passes stay short in the worker and the API. Real Cassandra:
reads, writes, a paged read and a failing request."""

from __future__ import annotations

import gc
from collections import Counter

import pytest
from cassandra import InvalidRequest

from photostream.settings import Settings
from producers.ids import new_id
from sinks.cassandra import connect, execute, pages


async def test_finished_requests_are_freed_without_the_cycle_collector(settings: Settings) -> None:
    cluster, session = connect(settings)
    read = session.prepare("SELECT user_id, username FROM users WHERE user_id = ?")
    write = session.prepare("INSERT INTO usernames (username, user_id) VALUES (?, ?)")
    scan = session.prepare("SELECT username FROM usernames LIMIT 30")
    try:
        await execute(session, read, (new_id(),))  # warm: the driver's first request makes long-lived objects
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(50):
                await execute(session, read, (new_id(),))
                await execute(session, write, (f"cycles-{new_id()}", new_id()))
            async for _ in pages(session, scan, (), page_size=10):
                pass
            with pytest.raises(InvalidRequest):
                await execute(session, "SELECT nothing FROM no_such_table")
            gc.collect()
            left = Counter(type(o).__name__ for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
        assert left["ResponseFuture"] == 0 and left["ResultSet"] == 0, left.most_common(10)
        assert sum(left.values()) < 50, left.most_common(10)  # ~45 objects per request before the fix
    finally:
        cluster.shutdown()
