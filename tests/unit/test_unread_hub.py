"""The live-status hub's per-connection rules, without a network: a bounded queue drops a slow client, and a
connection is sent a status only when it differs from the last one it was offered."""

from __future__ import annotations

from api.realtime import Connection


def status(count: int, senders: list[str] | None = None) -> dict[str, object]:
    return {"newly_unread_count": count, "online_status": "online", "last_seen": 1, "sender_ids": senders or []}


def test_a_client_that_does_not_drain_its_queue_is_dropped_not_buffered() -> None:
    connection = Connection("u", detail=False, queue_max=3)
    for count in range(10):
        connection.offer(status(count))
    assert connection.dropped.is_set()
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
