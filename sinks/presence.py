"""Presence storage: the durable row (Cassandra) and the hash the API reads (Redis), both last-writer-wins.

Cassandra needs no read: each event is an INSERT with its transition time as the cell timestamp (offline one
microsecond later, so at equal times offline wins, as :func:`photostream.domain.presence.apply_presence`
decides), so the newest event's status, time and ``last_seen`` win whatever the arrival order. Redis gets the
same rule from a script comparing with what the hash holds; it pings the user's status channel when the
status or last-seen time changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session

from photostream.domain.presence import Presence, Status
from sinks import keys
from sinks.cassandra import Gated, execute_grouped

# KEYS[1] the presence hash; ARGV: channel, status, at (ms). Older than the stored transition: only last_seen
# may move; equal: offline wins.
_APPLY = """
local at = tonumber(ARGV[3])
local changed_at = tonumber(redis.call('HGET', KEYS[1], 'changed_at') or '-1')
local status = redis.call('HGET', KEYS[1], 'status')
local last_seen = tonumber(redis.call('HGET', KEYS[1], 'last_seen') or '-1')
local moved = 0
if at > changed_at or (at == changed_at and ARGV[2] == 'offline' and status ~= 'offline') then
  redis.call('HSET', KEYS[1], 'status', ARGV[2], 'changed_at', ARGV[3])
  moved = 1
end
if at > last_seen then
  redis.call('HSET', KEYS[1], 'last_seen', ARGV[3])
  moved = 1
end
if moved == 1 then redis.call('PUBLISH', ARGV[1], 'presence') end
return moved
"""


@dataclass(frozen=True)
class PresenceChange:
    user_id: str
    status: Status
    at: int  # ms


class PresenceRows:
    """The ``presence`` table."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._run = Gated(session).run
        self._w = session.prepare("INSERT INTO presence (user_id, status, changed_at, last_seen) VALUES (?, ?, ?, ?) "
                                  "USING TIMESTAMP ?")
        self._q = session.prepare("SELECT status, changed_at, last_seen FROM presence WHERE user_id = ?")

    async def write(self, changes: list[PresenceChange]) -> None:
        """Timestamped upserts, order-free: grouped into a few UNLOGGED batches."""
        await execute_grouped(self._session, [
            (self._w, (c.user_id, c.status, c.at, c.at, c.at * 1000 + (1 if c.status == "offline" else 0)))
            for c in changes])

    async def get(self, user_id: str) -> Presence | None:
        row = (await self._run(self._q, (user_id,))).one()
        if row is None or row.status not in ("online", "offline"):
            return None
        return Presence(row.status, int(row.changed_at), int(row.last_seen))


class PresenceHashes:
    """The Redis ``presence:{user}`` hashes."""

    def __init__(self, redis: Any, namespace: str) -> None:
        self._redis = redis
        self._namespace = namespace  # of the status channels (the app id)

    async def apply(self, changes: list[PresenceChange]) -> None:
        if not changes:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for c in changes:
                pipe.eval(_APPLY, 1, keys.presence(c.user_id), keys.status_channel(self._namespace, c.user_id),
                          c.status, str(c.at))
            await pipe.execute()
