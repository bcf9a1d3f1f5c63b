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
from sinks import keys, redis_scripts
from sinks.redis_client import is_cluster

log = logging.getLogger(__name__)

#: connections a reap or a shutdown takes away per round trip (a script call each, one user per call: any Redis,
#: Cluster too). Why: a call, a closed-account check and a forget per user, each a round trip by the script's
#: text, made the reap of a crashed process's 10,000 users cost every surviving API process a quarter of its CPU
#: for seconds (benchmark 7's status reads: p99 74-386 ms while it ran, ~2 ms before); and a process shutting
#: down left its connections one at a time, so with thousands open it was killed first and the rest were reaped
LEAVES_PER_TRIP = 200
#: users refreshed by one heartbeat script call, and calls per round trip (one user per call on Redis Cluster,
#: whose scripts stay in one slot). Why: a call per user by its text kept the API's event loop busy 0.3-1.5 s
#: every beat at 10,000 connections (packing and parsing 10,000 commands), in stalls of up to 55-103 ms, the
#: likeliest cause of the WebSocket push's tail (benchmark 7); now ~0.1 s, and between round trips the loop
#: serves everything else (no stall above 5 ms).
USERS_PER_BEAT = 200
BEAT_CALLS_PER_TRIP = 10

# now (ms, Redis' clock) and the next transition time of the user (KEYS[2] the clock key; KEYS[3] the flag
# present while the last transition was online)
_CLOCK = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function stamp(clock, flag, now, online)
  local at = math.max(now, tonumber(redis.call('GET', clock) or '0') + 1)
  redis.call('SET', clock, at, 'PX', 86400000)
  if online then redis.call('SET', flag, at) else redis.call('DEL', flag) end
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
if before == 0 then return {stamp(KEYS[2], KEYS[3], now, true), now + tonumber(ARGV[2])} end
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
  return stamp(KEYS[2], KEYS[3], now, false)
end
return 0
"""
# KEYS: conns, clock, online of each user; ARGV: ttl ms, then per user the count of its connection ids and the
# ids. Moves the expiry of this process's live connections, and registers again any that expired meanwhile (the
# process stalled, or Redis was away, past the TTL: another process reaped them and took the user offline while
# they were still connected). Returns the new expiry and, per user, the online transition's time if that made
# them online again (else 0).
_BEAT = _CLOCK + """
local now = now_ms()
local ttl = tonumber(ARGV[1])
local expiry = now + ttl
local back, at = {}, 2
for k = 1, #KEYS, 3 do
  local conns, count = KEYS[k], tonumber(ARGV[at])
  redis.call('ZREMRANGEBYSCORE', conns, '-inf', now)
  local before = redis.call('ZCARD', conns)
  for i = at + 1, at + count do redis.call('ZADD', conns, expiry, ARGV[i]) end
  at = at + count + 1
  redis.call('PEXPIRE', conns, 2 * ttl)
  if before == 0 then back[#back + 1] = stamp(KEYS[k + 1], KEYS[k + 2], now, true) else back[#back + 1] = 0 end
end
return {expiry, back}
"""
# KEYS: live index; ARGV: limit, claim ms. Users whose latest expiry passed, claimed by this reaper: their score
# moves to the claim's end, so the other processes' reapers skip them meanwhile (each used to reap every due user
# itself); past it, users a reaper left (it died mid-page) are due again. The claim ends half a millisecond short
# of a whole one, below any expiry a connection sets from now on (and never equal to one), so a user who connects
# again while claimed keeps the expiry it set (a GT add). Returns {claim as text (a script's number reaches the
# client as an integer), users}.
_DUE = _CLOCK + """
local now = now_ms()
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local claim = now + tonumber(ARGV[2]) - 0.5
for _, user in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', claim, user) end
return {string.format('%.1f', claim), due}
"""
# KEYS: live index; ARGV: user, claim. Drops the user unless a connection moved their expiry since the claim.
_FORGET = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then redis.call('ZREM', KEYS[1], ARGV[1]) end
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
        self._beat = redis.register_script(_BEAT)
        self._join = redis.register_script(_JOIN)
        self._due = redis.register_script(_DUE)
        self._leave = redis.register_script(_LEAVE)
        self._forget = redis.register_script(_FORGET)

    async def joined(self, user_id: str, connection_id: str) -> None:
        at, expiry = await self._join(keys=list(_keys(user_id)), args=[connection_id, self._ttl_ms])
        await self._redis.zadd(keys.presence_live(), {user_id: int(expiry)}, gt=True)
        if int(at):
            await self._publish("online", [(user_id, int(at))])

    async def left(self, user_id: str, connection_id: str = "") -> None:
        at = await self._leave(keys=list(_keys(user_id)), args=[connection_id])
        if int(at):
            await self._publish("offline", [(user_id, int(at))])

    async def heartbeat(self, connections: dict[str, list[str]]) -> None:
        """Refresh this process's connections (user -> connection ids), :data:`USERS_PER_BEAT` users per script
        call, a round trip per :data:`BEAT_CALLS_PER_TRIP` calls; a user whose connections had been reaped while
        still open (a stall past the TTL) is online again, and says so.
        (A connection that left while its beat was on the way may be registered again: for one TTL at most,
        then the reaper takes it.)"""
        users = list(connections)
        per_call = 1 if is_cluster(self._redis) else USERS_PER_BEAT
        for start in range(0, len(users), per_call * BEAT_CALLS_PER_TRIP):
            trip = users[start:start + per_call * BEAT_CALLS_PER_TRIP]
            chunks = [trip[first:first + per_call] for first in range(0, len(trip), per_call)]
            async with self._redis.pipeline(transaction=False) as pipe:
                for chunk in chunks:
                    args: list[Any] = [self._ttl_ms]
                    for user in chunk:
                        args += [len(connections[user]), *connections[user]]
                    await self._beat(keys=[k for user in chunk for k in _keys(user)], args=args, client=pipe)
                beats = await redis_scripts.execute(pipe)
            expiries: dict[str, int] = {}
            back: list[tuple[str, int]] = []
            for chunk, (expiry, times) in zip(chunks, beats, strict=True):
                expiries |= dict.fromkeys(chunk, int(expiry))
                back += [(user, int(at)) for user, at in zip(chunk, times, strict=True) if int(at)]
            await self._redis.zadd(keys.presence_live(), expiries, gt=True)
            await self._publish("online", back)

    async def left_many(self, connections: list[tuple[str, str]]) -> None:
        """:meth:`left` for many (user, connection id) pairs at once: what a process shutting down says of the
        connections it still holds, :data:`LEAVES_PER_TRIP` a round trip."""
        for start in range(0, len(connections), LEAVES_PER_TRIP):
            await self._leave_page(connections[start:start + LEAVES_PER_TRIP])

    async def reap(self, limit: int = 1000, rounds: int = 20) -> int:
        """Users left online by a process that died: their expired connections go, and the last one takes them
        offline. Safe to run in every process at once: each page of due users is claimed by one reaper (the
        others skip it for a TTL), and the scripts decide each transition once. Up to ``rounds`` pages of
        ``limit`` a heartbeat: one page a beat left most of a crashed process's 10,000 users online for minutes."""
        reaped = 0
        for _ in range(rounds):
            claim, due = await self._due(keys=[keys.presence_live()], args=[limit, self._ttl_ms])
            for start in range(0, len(due), LEAVES_PER_TRIP):
                await self._reap_page(due[start:start + LEAVES_PER_TRIP], claim)
            reaped += len(due)
            if len(due) < limit:
                break
        return reaped

    async def _reap_page(self, users: list[str], claim: str) -> None:
        """The users' expired connections left (no connection id: only what expired goes), then, a round trip
        more, the users forgotten by the live index unless a connection moved their expiry since the claim."""
        await self._leave_page([(user, "") for user in users])
        async with self._redis.pipeline(transaction=False) as pipe:
            for user in users:
                await self._forget(keys=[keys.presence_live()], args=[user, claim], client=pipe)
            await redis_scripts.execute(pipe)

    async def _leave_page(self, connections: list[tuple[str, str]]) -> None:
        """One round trip of leave scripts, then the ``offline`` transitions published (:meth:`_publish`)."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for user, connection_id in connections:
                await self._leave(keys=list(_keys(user)), args=[connection_id], client=pipe)
            times = await redis_scripts.execute(pipe)
        await self._publish("offline", [(user, int(at)) for (user, _), at in zip(connections, times, strict=True)
                                        if int(at)])

    async def _publish(self, status: Literal["online", "offline"], transitions: list[tuple[str, int]]) -> None:
        """Publish each (user, time) transition, unless the account was deleted (one round trip checks them all,
        then the events go out together): a socket still open when it was, left after the purge and its
        ``offline`` made the presence processor write the deleted user's presence again."""
        if not transitions:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for user, _ in transitions:
                pipe.exists(keys.closed_account(user))
            closed = await pipe.execute()
        await asyncio.gather(*(self._publisher.publish_async(self._event(user, status, at))
                               for (user, at), gone in zip(transitions, closed, strict=True) if not gone))

    @staticmethod
    def _event(user_id: str, status: Literal["online", "offline"], at: int) -> events.Event:
        return events.build("presence-changed", {"user_id": user_id, "status": status, "occurred_at": at})
