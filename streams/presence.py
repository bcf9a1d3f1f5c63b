"""The ``presence`` processor: presence-changed → online status and last-seen time (Cassandra, then Redis).

Its own processor (not part of ``unread``): presence is a compacted latest-state topic with a different
rhythm, and a presence backlog must not delay badges. Events are folded per user within the batch with the
last-writer-wins rule of :mod:`photostream.domain.presence`; both stores apply the same rule against what they
hold, so no read is needed and any order or replay converges. Redis pings the user's status channel when the
hash changed (the API pushes the new status to the user's WebSockets).
"""

from __future__ import annotations

from typing import Any

from photostream.domain.presence import Presence, apply_presence
from producers.ids import is_recurring_id
from sinks import offsets
from sinks.presence import PresenceChange, PresenceHashes, PresenceRows
from streams.engine.records import Record, Reject, accepted


def change_of(event: dict[str, Any]) -> PresenceChange:
    if not is_recurring_id(event["user_id"]):
        raise ValueError("user_id: not an id")
    return PresenceChange(event["user_id"], event["status"], int(event["occurred_at"]))


class PresenceProcessor:
    name: str = "presence"
    topics: tuple[str, ...] = ("presence-changed",)
    flush_interval_s: float = 0.02

    def __init__(self, rows: PresenceRows, hashes: PresenceHashes, redis: Any) -> None:
        self._rows = rows
        self._hashes = hashes
        self._redis = redis

    async def process(self, batch: list[Record], reject: Reject) -> None:
        folded: dict[str, Presence] = {}
        for change in accepted(batch, lambda r: change_of(r.value), reject):
            folded[change.user_id] = apply_presence(folded.get(change.user_id), change.status, change.at)
        # the batch's newest transition per user (within a batch it is also the newest time seen)
        changes = [PresenceChange(u, p.status, p.changed_at) for u, p in folded.items()]
        await self._rows.write(changes)
        await self._hashes.apply(changes)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))
