"""Presence as the API sees it: a registry of live WebSocket connections, and the transitions it publishes.

Every connection of a user, on any API process, is a member of ``presence:{user}:conns`` with an expiry; each
process refreshes its own members every ``presence_heartbeat_s`` (expiry ``presence_ttl_s`` ahead). Scripts
compute transitions atomically over all processes: the first live connection makes the user ``online``; the
last one leaving, or expiring because its process died without saying goodbye, makes them ``offline``. Any
process's reaper finds expired users through ``presence:live`` (user -> latest expiry), so a crashed process
leaves nobody online for longer than the TTL plus one heartbeat. Each transition is published as a
``presence-changed`` event stamped with a per-user strictly increasing time taken from Redis' clock (one clock
for all processes), which the presence processor applies last-writer-wins.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from producers import events
from producers.publisher import Publisher
from sinks import keys

log = logging.getLogger(__name__)

#: users a reap takes offline at once (each is a script call and an event's delivery)
REAP_CONCURRENCY = 64

# now (ms, Redis' clock) and the next transition time of the user (KEYS[2] the clock key; KEYS[3] the flag
# present while the last transition was online)
_CLOCK = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function stamp(clock, now, online)
  local at = math.max(now, tonumber(redis.call('GET', clock) or '0') + 1)
  redis.call('SET', clock, at, 'PX', 86400000)
  if online then redis.call('SET', KEYS[3], at) else redis.call('DEL', KEYS[3]) end
  return at
end
"""
# KEYS: conns, clock, online; ARGV: connection id, ttl ms. Returns the online transition's time, or 0.
_JOIN = _CLOCK + """
local now = now_ms()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
if before == 0 then return {stamp(KEYS[2], now, true), now + tonumber(ARGV[2])} end
return {0, now + tonumber(ARGV[2])}
"""
# KEYS: conns, clock, online; ARGV: connection id ('' for a reap). Removes it and every expired member;
# returns the offline transition's time if the registry is now empty and the user was last said online (the
# registry itself expires at twice the TTL: a user no process reaped within that was left online for good,
# and a reaper falling behind thousands of a crashed process's users left most of them so), or 0.
_LEAVE = _CLOCK + """
local now = now_ms()
local removed = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[1] ~= '' then removed = removed + redis.call('ZREM', KEYS[1], ARGV[1]) end
if redis.call('ZCARD', KEYS[1]) == 0 and (removed > 0 or redis.call('EXISTS', KEYS[3]) == 1) then
  return stamp(KEYS[2], now, false)
end
return 0
"""
# KEYS: conns, clock, online; ARGV: ttl ms, connection ids. Moves the expiry of this process's live connections, and
# registers again any that expired meanwhile (the process stalled, or Redis was away, past the TTL: another
# process reaped them and took the user offline while they were still connected). Returns the online
# transition's time if that made the user online again (else 0), and the new expiry.
_BEAT = _CLOCK + """
local now = now_ms()
local expiry = now + tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local before = redis.call('ZCARD', KEYS[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], expiry, ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[1]))
if before == 0 then return {stamp(KEYS[2], now, true), expiry} end
return {0, expiry}
"""
# KEYS: live index; ARGV: limit. Users whose latest expiry passed.
_DUE = _CLOCK + """
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms(), 'LIMIT', 0, tonumber(ARGV[1]))
"""
# KEYS: live index; ARGV: user. Drops the user if their latest expiry (still) passed.
_FORGET = _CLOCK + """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) <= now_ms() then redis.call('ZREM', KEYS[1], ARGV[1]) end
return 1
"""


def _keys(user_id: str) -> tuple[str, str, str]:
    """The scripts' keys of one user (one hash tag: a cluster runs each script on one node)."""
    return keys.presence_connections(user_id), keys.presence_clock(user_id), keys.presence_online(user_id)


class PresenceTracker:
    def __init__(self, redis: Any, publisher: Publisher, ttl_s: float) -> None:
        self._redis = redis
        self._publisher = publisher
        self._ttl_ms = str(int(ttl_s * 1000))

    async def joined(self, user_id: str, connection_id: str) -> None:
        at, expiry = await self._redis.eval(_JOIN, 3, *_keys(user_id), connection_id, self._ttl_ms)
        await self._redis.zadd(keys.presence_live(), {user_id: int(expiry)}, gt=True)
        if int(at):
            await self._publish(user_id, "online", int(at))

    async def left(self, user_id: str, connection_id: str = "") -> None:
        at = await self._redis.eval(_LEAVE, 3, *_keys(user_id), connection_id)
        if int(at):
            await self._publish(user_id, "offline", int(at))

    async def heartbeat(self, connections: dict[str, list[str]]) -> None:
        """Refresh this process's connections (user -> connection ids), one pipelined round trip; a user whose
        connections had been reaped while still open (a stall past the TTL) is online again, and says so.
        (A connection that left while its beat was on the way may be registered again: for one TTL at most,
        then the reaper takes it.)"""
        if not connections:
            return
        users = list(connections)
        async with self._redis.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.eval(_BEAT, 3, *_keys(user), self._ttl_ms, *connections[user])
            beats = await pipe.execute()
        await self._redis.zadd(keys.presence_live(), {user: int(expiry) for user, (_, expiry) in zip(users, beats,
                                                                                                    strict=True)},
                               gt=True)
        for user, (at, _) in zip(users, beats, strict=True):
            if int(at):
                await self._publish(user, "online", int(at))

    async def reap(self, limit: int = 1000, rounds: int = 20) -> int:
        """Users left online by a process that died: their expired connections go, and the last one takes them
        offline. Safe to run in every process at once (the scripts decide each transition once). Up to
        ``rounds`` pages of ``limit`` a heartbeat: one page a beat left most of a crashed process's 10,000
        users online for minutes."""
        reaped = 0
        at_once = asyncio.Semaphore(REAP_CONCURRENCY)

        async def reap_one(user: str) -> None:
            async with at_once:
                await self.left(user)
                await self._redis.eval(_FORGET, 1, keys.presence_live(), user)

        for _ in range(rounds):
            due = await self._redis.eval(_DUE, 1, keys.presence_live(), str(limit))
            # concurrently: one at a time, each awaiting its event's delivery, was ~85 users a second
            await asyncio.gather(*(reap_one(user) for user in due))
            reaped += len(due)
            if len(due) < limit:
                break
        return reaped

    async def _publish(self, user_id: str, status: Literal["online", "offline"], at: int) -> None:
        """Publish the transition, unless the account was deleted: a socket still open when it was, left after
        the purge and its ``offline`` made the presence processor write the deleted user's presence again."""
        if await self._redis.exists(keys.closed_account(user_id)):
            return
        event = events.build("presence-changed", {"user_id": user_id, "status": status, "occurred_at": at})
        await self._publisher.publish_async(event)
