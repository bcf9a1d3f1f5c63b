"""The graph projector: follow-changed → the follow graph in Cassandra (both directions).

A batch processor on the engine (streams/engine): every write is absolute and timestamped with the event
time, so duplicates, replays and reordering leave the graph unchanged, and the batch needs no read. After the
writes are durable the applied-offset marks move, so a read with ``?after=`` sees the follow.
"""

from __future__ import annotations

from typing import Any

from producers.ids import is_id
from sinks import offsets
from sinks.graph import FollowChange, GraphWriter
from streams.engine.records import Record, Reject


def follow_change(event: dict[str, Any]) -> FollowChange:
    """The change an event describes; ``ValueError`` (→ DLQ) for one no client could have made."""
    follower, followee = event["follower_id"], event["followee_id"]
    if not (is_id(follower) and is_id(followee)):
        raise ValueError("follower_id/followee_id: not ids")
    if follower == followee:
        raise ValueError("followee_id: a user cannot follow themself")
    return FollowChange(follower, followee, event["action"] == "follow", int(event["occurred_at"]))


class GraphProjector:
    name: str = "graph"
    topics: tuple[str, ...] = ("follow-changed",)
    #: visibility checks read the graph right after a follow: keep batches short
    flush_interval_s: float = 0.05

    def __init__(self, writer: GraphWriter, redis: Any) -> None:
        self._writer = writer
        self._redis = redis

    async def process(self, batch: list[Record], reject: Reject) -> None:
        changes: list[FollowChange] = []
        for record in batch:
            try:
                changes.append(follow_change(record.value))
            except ValueError as exc:
                reject(record, exc)
        await self._writer.apply(changes)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))
