"""The follow_requests processor: follow-requested → pending requests (``follow_requests`` in Cassandra).

A batch processor on the engine: every write is absolute and timestamped with the event time (see
:mod:`sinks.accounts_requests`), so duplicates and replays change nothing and a batch needs no read. The
follow itself is not this processor's: approving publishes the requester's ``follow-changed`` (the API does,
on the requester's behalf), which the feeds processor applies like any follow.
"""

from __future__ import annotations

from typing import Any

from producers.ids import is_id
from sinks import offsets
from sinks.accounts_requests import FollowRequests, RequestChange
from streams.engine.records import Record, Reject, accepted


def request_change(event: dict[str, Any]) -> RequestChange:
    """The change an event describes; ``ValueError`` (→ DLQ) for one no client could have made."""
    follower, followee = event["follower_id"], event["followee_id"]
    if not (is_id(follower) and is_id(followee)):
        raise ValueError("follower_id/followee_id: not ids")
    if follower == followee:
        raise ValueError("followee_id: a user cannot request to follow themself")
    return RequestChange(follower, followee, event["action"] == "request", int(event["occurred_at"]))


class FollowRequestsProjector:
    name: str = "follow_requests"
    topics: tuple[str, ...] = ("follow-requested",)
    #: the owner reloads the request list right after an approval (``?after=``): keep batches short
    flush_interval_s: float = 0.05

    def __init__(self, requests: FollowRequests, redis: Any) -> None:
        self._requests = requests
        self._redis = redis

    async def process(self, batch: list[Record], reject: Reject) -> None:
        changes = accepted(batch, lambda r: request_change(r.value), reject)
        await self._requests.apply(changes)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))
