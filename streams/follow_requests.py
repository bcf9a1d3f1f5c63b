"""The follow_requests processor: follow-requested → pending requests (``follow_requests`` in Cassandra).

A batch processor on the engine: every write is absolute and timestamped with the event time (see
:mod:`sinks.accounts_requests`), so duplicates and replays change nothing and a batch needs no read. The
follow itself is not this processor's: approving publishes the requester's ``follow-changed`` (the API does,
on the requester's behalf), which the feeds processor applies like any follow. A request is closed by its
answer (``approve``, ``deny``: the owner denied it or the requester withdrew it), by a block either way
(``block-changed`` on: neither may follow the other, so neither's request to the other stands), and, when
either side's account deletion was accepted, by a denial this processor publishes once the request is written
(:mod:`streams.closed_accounts_acts`).
"""

from __future__ import annotations

from typing import Any

from producers.ids import is_recurring_id
from producers.publisher import Publisher
from sinks import offsets
from sinks.accounts_requests import FollowRequests, RequestChange
from streams.closed_accounts_acts import denial_of, retract_acts_of_closed_accounts
from streams.engine.records import Record, Reject, accepted


def closed_by_block(event: dict[str, Any]) -> list[RequestChange]:
    """The requests a block closes: the pair's, both ways (an unblock reopens nothing)."""
    actor, target = event["actor_id"], event["target_id"]
    if not (is_recurring_id(actor) and is_recurring_id(target)):
        raise ValueError("actor_id/target_id: not ids")
    if event["action"] != "on" or actor == target:
        return []
    at = int(event["occurred_at"])
    return [RequestChange(actor, target, False, at), RequestChange(target, actor, False, at)]


def changes_of(record: Record) -> list[RequestChange]:
    """What a record changes; ``ValueError`` (→ DLQ) for one no client could have made."""
    if record.topic == "block-changed":
        return closed_by_block(record.value)
    return [request_change(record.value)]


def request_change(event: dict[str, Any]) -> RequestChange:
    """The change an event describes; ``ValueError`` (→ DLQ) for one no client could have made."""
    follower, followee = event["follower_id"], event["followee_id"]
    if not (is_recurring_id(follower) and is_recurring_id(followee)):
        raise ValueError("follower_id/followee_id: not ids")
    if follower == followee:
        raise ValueError("followee_id: a user cannot request to follow themself")
    return RequestChange(follower, followee, event["action"] == "request", int(event["occurred_at"]),
                         str(event.get("event_id") or ""))


class FollowRequestsProjector:
    name: str = "follow_requests"
    topics: tuple[str, ...] = ("follow-requested", "block-changed")
    #: the owner reloads the request list right after an approval (``?after=``): keep batches short
    flush_interval_s: float = 0.05

    def __init__(self, requests: FollowRequests, redis: Any, publisher: Publisher | None = None,
                 publish_timeout_s: float = 10.0) -> None:
        self._requests = requests
        self._redis = redis
        #: a request by or to a deleted account is denied through it once written (:mod:`streams.closed_accounts_acts`)
        self._publisher, self._publish_timeout_s = publisher, publish_timeout_s

    async def process(self, batch: list[Record], reject: Reject) -> None:
        changes = [change for found in accepted(batch, changes_of, reject) for change in found]
        await self._requests.apply(changes)
        await retract_acts_of_closed_accounts([c for c in changes if c.pending], denial_of, self._redis,
                                              self._requests.session, self._publisher, self._publish_timeout_s)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))
