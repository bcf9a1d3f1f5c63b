"""Redis copies of small per-user Cassandra partitions (whom a user follows; their blocks and mutes; what they
like), fenced so a read can never put back a copy that a writer has since changed.

Why: every home-feed page asked Cassandra which celebrities the reader follows, how the reader relates to the
page's authors, and which of the page's posts the reader likes (a 20-partition IN query). These are per-user
state, read on every page and written far more rarely. Measured (`python -m benchmarks --only feeds`): with
those reads and the people-tag read simply skipped, a page went from 229 to 486/s; answered from these copies
instead, 234/s — the Cassandra cost moved to redis-py's per-round-trip client cost (see
:mod:`sinks.redis_bulk`), so the gain is in Cassandra's load and the API's latency tail, not yet in its rate.
Each (version + hash) lookup is one pipeline.

How it stays exact (a cache-aside with a version fence, no TTL guesswork):
- each cached partition has a version key next to its copy (one hash slot);
- a writer (the processor that owns the table), after its durable write, bumps the version and drops the copy
  (:meth:`PartitionCache.invalidate`, one script per user); a crash between the two is replayed from the
  uncommitted offsets, so the drop always follows the write;
- a reader reads the copy and the version in one round trip (:meth:`PartitionCache.lookup`); on a miss it
  reads the partition from Cassandra and stores it only if the version has not moved since (:meth:`fill`,
  one script). A fill racing a write either lands before the write's bump (which then drops it) or finds the
  version moved (and stores nothing);
- a partition holding more than ``FEW_ROWS`` rows is stored as "too many": readers keep asking Cassandra for
  exactly the rows they need, as before;
- Redis down: a lookup is a miss and a fill is skipped (:mod:`sinks.cache_aside`), so reads go to Cassandra.
Copies expire after ``keys.PARTITION_COPY_TTL_S`` (memory goes to active readers only); a version expires a day
after its first bump (then restarts from 1: a fill's window is seconds, so no reader can hold a stale "1").
Cost to writers, measured: the safety processor spends ~9 µs of client and ~27 µs of Redis CPU more per block
event (two users' versions), one script call per batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sinks import cache_aside, keys, redis_scripts
from sinks.redis_client import is_cluster

#: the kinds of partition copied, each dropped by the processor that writes its table
FOLLOWING = "following"  # ``following`` (the feeds processor applies follow-changed)
RELATIONS = "relations"  # ``user_relations`` (the safety processor; account purge)
LIKES = "likes"  # ``likes_by_user`` (the popularity processor, which edits copies in place; account purge)

#: the copy's own field: "ok" (the copy holds every row) or "many" (too many rows to copy)
_STATE = "\x00state"
_WHOLE, _TOO_MANY = "ok", "many"

#: KEYS[1] copy, KEYS[2] version; ARGV[1] the version the reader saw ('' for none), ARGV[2] ttl, ARGV[3..] the
#: copy's field/value pairs -> 1 if stored
_FILL = """
local now = redis.call('GET', KEYS[2]) or ''
if now ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

#: KEYS copy1, version1, copy2, version2, ...; ARGV[1] the versions' ttl -> copies dropped
_INVALIDATE = """
local dropped = 0
for i = 1, #KEYS, 2 do
  if redis.call('INCR', KEYS[i + 1]) == 1 then redis.call('EXPIRE', KEYS[i + 1], ARGV[1]) end
  dropped = dropped + redis.call('DEL', KEYS[i])
end
return dropped
"""

#: KEYS copy1, version1, copy2, version2, ...; ARGV[1] the versions' ttl, then per user: the number of rows n,
#: then n member/value pairs ('' removes the member) -> copies edited
_APPLY = """
local edited, at = 0, 2
for i = 1, #KEYS, 2 do
  if redis.call('INCR', KEYS[i + 1]) == 1 then redis.call('EXPIRE', KEYS[i + 1], ARGV[1]) end
  local n = tonumber(ARGV[at])
  local whole = redis.call('HGET', KEYS[i], '\\0state') == 'ok'  -- _STATE, _WHOLE
  for j = at + 1, at + 2 * n, 2 do
    if whole then
      if ARGV[j + 1] == '' then redis.call('HDEL', KEYS[i], ARGV[j])
      else redis.call('HSET', KEYS[i], ARGV[j], ARGV[j + 1]) end
    end
  end
  if whole then edited = edited + 1 end
  at = at + 1 + 2 * n
end
return edited
"""
#: KEYS[1] a set, KEYS[2] a user's copy, ARGV[1] how many of the set's members are markers (the celebrity set's
#: "built" marker), not rows -> false when the copy cannot answer (none, or too many rows to copy), else the
#: copy's members that are also in the set (a feed read asks which celebrities the reader follows). A set of
#: nothing but markers answers none, copy or not: with no celebrity yet, a reader without a copy cost every feed
#: read a second round trip for the set (the copy is filled only by asking it).
#: Which side is walked, and asked of the other one command per chunk of 1,000 (a command per member cost ~1 µs
#: each inside the script): the smaller, except that a copy of up to 512 fields (Redis's default listpack size)
#: answers a field by scanning itself, so asking it about each of the set's members costs set × copy: a 401-field
#: copy asked about a 151-member set cost ~850 µs of Redis time a feed read, walking the copy ~200. Such a copy is
#: walked unless the set is tiny (under 32 members: asking it about 20 cost ~100 µs, walking 300 fields ~150).
MEMBERS_IN_SET = """
local markers = tonumber(ARGV[1] or '0')
local set_size = redis.call('SCARD', KEYS[1])
if set_size <= markers then return {} end
if redis.call('HGET', KEYS[2], '\\0state') ~= 'ok' then return false end  -- _STATE, _WHOLE
local copy_size = redis.call('HLEN', KEYS[2]) - 1
local walk_copy = copy_size <= set_size or (copy_size <= 512 and set_size - markers >= 32)
local members = redis.call(walk_copy and 'HKEYS' or 'SMEMBERS', walk_copy and KEYS[2] or KEYS[1])
local out = {}
for first = 1, #members, 1000 do
  local chunk = {unpack(members, first, math.min(first + 999, #members))}
  local found
  if walk_copy then found = redis.call('SMISMEMBER', KEYS[1], unpack(chunk))
  else found = redis.call('HMGET', KEYS[2], unpack(chunk)) end
  for i, hit in ipairs(found) do
    if hit and hit ~= 0 and chunk[i] ~= '\\0state' then out[#out + 1] = chunk[i] end
  end
end
return out
"""
MEMBERS_IN_SET_SHA = hashlib.sha1(MEMBERS_IN_SET.encode()).hexdigest()

#: users per script call (a writer's batch touches many users: one call, not one per user)
_USERS_PER_CALL = 250


@dataclass(frozen=True)
class Lookup:
    """What Redis held for one user: ``rows`` (the asked rows that exist: member → value) when the copy is
    whole, else None, with the version to fence a fill with (None: do not fill — too many rows, or Redis down)."""

    rows: dict[str, str] | None
    version: str | None


class PartitionCache:
    """The copies of one kind of partition (``name``: :data:`FOLLOWING`, :data:`RELATIONS`, :data:`LIKES`),
    keyed by user."""

    def __init__(self, redis: Any, name: str, reads: Any = None) -> None:
        self._redis = redis
        #: where lookups go (the API's batching client, :mod:`sinks.redis_batching`); scripts use ``redis``
        self._reads = reads if reads is not None else redis
        self._name = name
        self._fill = redis.register_script(_FILL)
        self._invalidate = redis.register_script(_INVALIDATE)
        self._apply = redis.register_script(_APPLY)

    async def lookup(self, user_id: str, members: Iterable[str]) -> Lookup:
        """The rows of ``members`` in the user's copy, and its version, in one round trip."""
        asked = list(members)
        try:
            async with self._reads.pipeline(transaction=False) as pipe:
                pipe.get(keys.partition_version(self._name, user_id))
                pipe.hmget(keys.partition_copy(self._name, user_id), _STATE, *asked)
                version, (state, *values) = await pipe.execute()
        except cache_aside.REDIS_DOWN as exc:
            cache_aside.missed(self._name, exc)
            return Lookup(None, None)
        if state == _WHOLE:
            return Lookup({m: v for m, v in zip(asked, values, strict=True) if v is not None}, None)
        if state == _TOO_MANY:
            return Lookup(None, None)
        return Lookup(None, version or "")

    async def rows_of(self, user_id: str, members: Iterable[str],
                      read_whole: Callable[[], Awaitable[dict[str, str] | None]]) -> dict[str, str] | None:
        """The rows of ``members`` (member → value, absent members have no row) from the copy; on a miss from
        ``read_whole`` (the whole partition from Cassandra, None when too large), copied for the next read.
        None when the copy cannot answer (too many rows, or Redis down): the caller asks Cassandra itself."""
        asked = set(members)
        seen = await self.lookup(user_id, asked)
        if seen.rows is not None:
            return seen.rows
        if seen.version is None:
            return None
        whole = await read_whole()
        await self.fill(user_id, seen.version, whole)
        return None if whole is None else {m: v for m, v in whole.items() if m in asked}

    async def fill(self, user_id: str, version: str, rows: dict[str, str] | None) -> bool:
        """Store the whole partition (``rows``; None: too many to copy) unless a writer changed it since the
        reader saw ``version``. False if not stored (changed, or Redis down: the next read tries again)."""
        pairs = [_STATE, _WHOLE if rows is not None else _TOO_MANY]
        for member, value in (rows or {}).items():
            pairs += [member, value]
        try:
            stored = await self._fill(keys=[keys.partition_copy(self._name, user_id),
                                            keys.partition_version(self._name, user_id)],
                                      args=[version, keys.PARTITION_COPY_TTL_S, *pairs])
        except cache_aside.REDIS_DOWN as exc:
            cache_aside.missed(self._name, exc)
            return False
        return bool(stored)

    async def invalidate(self, user_ids: Iterable[str]) -> None:
        """After a durable write to these users' partitions: bump their versions and drop their copies (one
        script call per 250 users). Raises when Redis is down: the writer's batch then fails and is retried,
        so no copy outlives a write."""
        await self._edit(self._invalidate, {user: [] for user in set(user_ids)}, with_rows=False)

    async def apply(self, changes: dict[str, dict[str, str | None]]) -> None:
        """After a durable write of these rows (user → member → value, None for a row gone): bump each user's
        version and edit their copy in place when it is whole, so a reader's copy survives their own writes
        (a like, then the next page). Raises when Redis is down, like :meth:`invalidate`."""
        await self._edit(self._apply, {user: [v for member, value in rows.items() for v in (member, value or "")]
                                       for user, rows in changes.items()}, with_rows=True)

    async def _edit(self, script: Any, pairs_of: dict[str, list[str]], with_rows: bool) -> None:
        """One call per chunk of users (per user on Redis Cluster: a script's keys must share a slot)."""
        users = sorted(pairs_of)
        if not users:
            return
        per_call = 1 if is_cluster(self._redis) else _USERS_PER_CALL
        async with self._redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(users), per_call):
                chunk = users[start:start + per_call]
                args: list[Any] = [keys.PARTITION_VERSION_TTL_S]
                for user in chunk:
                    if with_rows:
                        args += [len(pairs_of[user]) // 2, *pairs_of[user]]
                await script(keys=[k for user in chunk for k in (keys.partition_copy(self._name, user),
                                                                  keys.partition_version(self._name, user))],
                             args=args, client=pipe)
            await redis_scripts.execute(pipe)
