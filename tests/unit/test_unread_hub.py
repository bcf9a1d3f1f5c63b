"""The live-status hub's per-connection rules, without a network: a bounded queue drops a slow client, and a
connection is sent a status only when it differs from the last one it was offered; a push is timed from the badge
write its ping carries."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from prometheus_client import REGISTRY

from api.realtime import Connection, StatusHub


def status(count: int, senders: list[str] | None = None) -> dict[str, object]:
    return {"newly_unread_count": count, "online_status": "online", "last_seen": 1, "sender_ids": senders or []}


def test_a_client_that_does_not_drain_its_queue_is_dropped_not_buffered() -> None:
    connection = Connection("u", detail=False, queue_max=3)
    told: list[str] = []
    connection.on_drop = lambda: told.append("dropped")
    for count in range(10):
        connection.offer(status(count))
    assert connection.dropped
    assert told == ["dropped"]  # once: the WebSocket serving it ends its stream
    assert connection.queue.qsize() == 3  # memory bounded by the queue, whatever the client does


def test_an_unchanged_status_is_not_pushed_again() -> None:
    connection = Connection("u", detail=False, queue_max=10)
    connection.offer(status(1))
    connection.offer(status(1))
    connection.offer(status(1, ["a"]))  # only the detail differs: a connection without detail sees no change
    assert connection.queue.qsize() == 1 and "sender_ids" not in connection.queue.get_nowait()


def test_a_detail_connection_sees_sender_changes() -> None:
    connection = Connection("u", detail=True, queue_max=10)
    connection.offer(status(1, ["a"]))
    connection.offer(status(1, ["b"]))
    assert [connection.queue.get_nowait()["sender_ids"] for _ in range(2)] == [["a"], ["b"]]


class _Reader:
    def __init__(self) -> None:
        self.reads = 0
        self.during_first_read: Any = None

    async def read(self, user_id: str, detail: bool) -> dict[str, object]:
        self.reads += 1
        if self.reads == 1 and self.during_first_read is not None:
            self.during_first_read()
        return status(self.reads)


class _NoRedis:
    def pubsub(self, **_: Any) -> None:
        return None

    def register_script(self, _: str) -> None:
        return None


def _pushes_timed() -> tuple[float, float]:
    count = REGISTRY.get_sample_value("photostream_status_push_delay_seconds_count") or 0.0
    return count, REGISTRY.get_sample_value("photostream_status_push_delay_seconds_sum") or 0.0


async def test_a_push_is_timed_from_the_oldest_badge_write_it_carries_and_a_plain_ping_is_not_timed() -> None:
    settings = SimpleNamespace(presence_ttl_s=30.0, status_queue_max=10)
    reader = _Reader()
    hub = StatusHub(settings, _NoRedis(), reader, publisher=None)  # type: ignore[arg-type]
    connection = Connection("u", detail=True, queue_max=10)
    hub._local["u"].add(connection)
    count, total = _pushes_timed()

    # two pings before the push ran: one read, timed from the older write; a ping during that read: one more
    reader.during_first_read = lambda: hub._refresh("u", time.time() - 0.05)
    hub._refresh("u", time.time() - 0.25)
    hub._refresh("u", time.time() - 0.1)
    await hub._refreshing["u"]
    assert reader.reads == 2 and connection.queue.qsize() == 2
    after_count, after_total = _pushes_timed()
    assert after_count == count + 2
    assert 0.3 <= after_total - total < 0.3 + 0.1  # ~0.25 s, then ~0.05 s: each push from its own oldest write

    hub._refresh("u")  # a ping without a time (a copy, a purge): pushed, not timed
    await hub._refreshing["u"]
    assert reader.reads == 3 and _pushes_timed()[0] == after_count
    hub._refresh("nobody", time.time())  # a user with no connection here: nothing kept
    assert not hub._written_at
