"""The Redis projection of notifications: each recipient's newest ``NOTIFICATIONS_CAP`` items and read mark.

Per user (keys in :mod:`sinks.keys`, one hash tag): ``ids`` (id → bucket: the order in which the oldest are
trimmed), ``updated`` (id → updated_at: the listing order, and the unread count is one ZCOUNT above the mark),
``items`` (id → JSON), ``read`` (the mark), ``floor`` (everything at or below it was trimmed), ``whole`` and
``version``. Invariant: where ``whole`` is set, Redis holds exactly the Cassandra rows whose id is above the
floor. Every write is the absolute outcome of an aggregate row (written or deleted), so a retried batch, a
replay or a rebuild converges; an item at or below the floor is left to Cassandra (adding it would leave a gap
in the list); trimming the oldest raises the floor.

``whole`` is set only by what copied the user's list from Cassandra: the API's first read of a list it does not
know (:func:`restore`) and the rebuild. The projection never sets it: after Redis lost a user's keys, the next
notification made a list of one that readers took for the whole (older items missing, and the read mark gone
with the badge showing them all unread) until a rebuild. A list without the marker is read from Cassandra and
copied whole, fenced by ``version`` (which every projection raises): a copy read before a projection landed is
refused rather than let it erase that projection's items.

Trimming takes whole time buckets (ids start with their bucket), oldest first, and never the newest bucket, so
the floor is a bucket's end (``{bucket:013d}/``: ``/`` sorts right after the ``.`` every id of the bucket has
next). A floor inside a bucket (the highest id trimmed, as it was) hid every later notification of that bucket
whose id sorted below it — a user past the cap within the hour missed new groups, from the top of the list and
from the unread count. A newest bucket holding more than the cap stays whole (a user's distinct groups of one
hour: a few dozen for a celebrity). A user's status channel is pinged when their unread
count changed (inside the same script: no extra round trip), for the API's WebSocket push.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from pydantic_core import from_json

from photostream.domain.notifications import parse_notification_id
from sinks import keys, redis_scripts
from sinks.notifications import NotificationStore, StoredNotification

# KEYS: ids, updated, items, read, floor, version. ARGV[1] channel, ARGV[2] cap, then per item: id, bucket,
# updated_at, payload ('' = delete). Returns how many items changed.
_PROJECT = """
redis.call('INCR', KEYS[6])
local read_at = redis.call('GET', KEYS[4]) or '0'
local floor = redis.call('GET', KEYS[5]) or ''
local before = redis.call('ZCOUNT', KEYS[2], '(' .. read_at, '+inf')
local changed = 0
for i = 3, #ARGV, 4 do
  local id, payload = ARGV[i], ARGV[i + 3]
  if payload == '' then
    changed = changed + redis.call('ZREM', KEYS[1], id)
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
  elseif id > floor and redis.call('HGET', KEYS[3], id) ~= payload then
    redis.call('ZADD', KEYS[1], ARGV[i + 1], id)
    redis.call('ZADD', KEYS[2], ARGV[i + 2], id)
    redis.call('HSET', KEYS[3], id, payload)
    changed = changed + 1
  end
end
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if extra > 0 then
  -- whole buckets go, oldest first, and never the newest one (see trimmed() below, which this mirrors)
  local cut = redis.call('ZRANGE', KEYS[1], extra - 1, extra - 1, 'WITHSCORES')[2]
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2]
  if tonumber(cut) >= tonumber(newest) then
    cut = redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. newest, '-inf', 'WITHSCORES', 'LIMIT', 0, 1)[2]
  end
  if cut then
    local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', cut)
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', cut)
    for _, id in ipairs(gone) do
      redis.call('ZREM', KEYS[2], id)
      redis.call('HDEL', KEYS[3], id)
    end
    local marker = string.format('%013d/', tonumber(cut))
    if marker > floor then redis.call('SET', KEYS[5], marker) end
  end
end
if redis.call('ZCOUNT', KEYS[2], '(' .. read_at, '+inf') ~= before then
  redis.call('PUBLISH', ARGV[1], 'notifications')
end
return changed
"""

# KEYS: updated, items, read, floor, whole, version. ARGV[1] the position's id ('' = the newest), ARGV[2] limit,
# ARGV[3] the position's updated_at. Returns {read_at, floor, known, version, id1, payload1, ...}: the page's items
# below the position, newest first by updated_at (ties: id, descending); none when the position is at or below the
# floor (what only Cassandra holds, paged there by id). known = 1 when the list was copied whole (see above).
_PAGE = """
local known = redis.call('EXISTS', KEYS[5])
local floor = redis.call('GET', KEYS[4]) or ''
local out = {redis.call('GET', KEYS[3]) or '0', floor, known, redis.call('GET', KEYS[6]) or '0'}
local limit = tonumber(ARGV[2])
local ids
if ARGV[1] == '' then
  ids = redis.call('ZREVRANGE', KEYS[1], 0, limit - 1)
elseif ARGV[1] <= floor then
  ids = {}
else
  ids = {}
  local updated = ARGV[3]
  for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[1], updated, updated)) do
    if id < ARGV[1] then
      ids[#ids + 1] = id
      if #ids >= limit then break end
    end
  end
  if #ids < limit then
    for _, id in ipairs(redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. updated, '-inf', 'LIMIT', 0, limit - #ids)) do
      ids[#ids + 1] = id
    end
  end
end
if #ids > 0 then
  local payloads = redis.call('HMGET', KEYS[2], unpack(ids))
  for i, id in ipairs(ids) do
    out[#out + 1] = id
    out[#out + 1] = payloads[i] or ''
  end
end
return out
"""

# KEYS: updated, read, whole, version. {the unread count in Redis, 1 if the list is known whole (else 0), the version}.
_UNREAD = """
return {redis.call('ZCOUNT', KEYS[1], '(' .. (redis.call('GET', KEYS[2]) or '0'), '+inf'),
        redis.call('EXISTS', KEYS[3]), redis.call('GET', KEYS[4]) or '0'}
"""

# KEYS: ids, updated, items, read, floor, whole, version. ARGV[1] the version the copy was read at, ARGV[2] the
# durable read mark, ARGV[3] the floor ('' = none), ARGV[4] the status channel, then per item: id, bucket,
# updated_at, payload. The list becomes exactly these (the mark never goes back) and is known whole, unless a
# projection landed since (returns 0). Pings the status when the unread count changed (a copy after a loss
# restores the count the status showed before it: the live badge must hear of it, as of any other change).
_FILL = """
if (redis.call('GET', KEYS[7]) or '0') ~= ARGV[1] then return 0 end
local before = redis.call('ZCOUNT', KEYS[2], '(' .. (redis.call('GET', KEYS[4]) or '0'), '+inf')
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[5])
for i = 5, #ARGV, 4 do
  redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i])
  redis.call('ZADD', KEYS[2], ARGV[i + 2], ARGV[i])
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 3])
end
if tonumber(ARGV[2]) > tonumber(redis.call('GET', KEYS[4]) or '0') then redis.call('SET', KEYS[4], ARGV[2]) end
if ARGV[3] ~= '' then redis.call('SET', KEYS[5], ARGV[3]) end
redis.call('SET', KEYS[6], '1')
if redis.call('ZCOUNT', KEYS[2], '(' .. (redis.call('GET', KEYS[4]) or '0'), '+inf') ~= before then
  redis.call('PUBLISH', ARGV[4], 'notifications')
end
return 1
"""

# KEYS: read; ARGV[1] mark, ARGV[2] channel. Raises the mark (never lowers it); pings if it moved.
_MARK = """
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('PUBLISH', ARGV[2], 'notifications')
  return 1
end
return 0
"""


def payload_of(item: StoredNotification) -> str:
    return json.dumps({"kind": item.kind, "target_id": item.target_id, "actors": list(item.actors),
                       "actor_count": item.actor_count, "updated_at": item.updated_at}, separators=(",", ":"))


def from_payload(recipient: str, notification_id: str, payload: str) -> StoredNotification:
    """A stored item from its Redis payload: pydantic-core's JSON parser, as for cached posts (0.5 µs against
    1.5 for ``json.loads``, and a page holds twenty)."""
    data = from_json(payload)
    return StoredNotification(recipient, notification_id, data["kind"], data["target_id"], tuple(data["actors"]),
                              int(data["actor_count"]), int(data["updated_at"]))


class Unread(NamedTuple):
    """The unread count as Redis holds it; whether the list is known whole (if not, the count is Cassandra's
    to give: Redis may hold a lost list's tail), and the list's version."""

    in_redis: int
    whole: bool
    version: str


def _unread_keys(user: str) -> list[str]:
    return [keys.notification_updated(user), keys.notification_read(user), keys.notification_whole(user),
            keys.notification_version(user)]


def unread_of(raw: list[Any]) -> Unread:
    """What :data:`_UNREAD` answered."""
    return Unread(int(raw[0]), bool(int(raw[1])), str(raw[2]))


def _bucket(notification_id: str) -> int:
    return parse_notification_id(notification_id)[0]


def bucket_floor(bucket: int) -> str:
    """The floor below which a whole bucket (and every older one) was trimmed."""
    return f"{bucket:013d}/"


def trimmed(newest_first: list[StoredNotification], cap: int) -> tuple[list[StoredNotification], str]:
    """What the projection keeps of a user's rows (newest first by id) and the floor below them, as ``_PROJECT``
    trims: whole buckets, oldest first, never the newest (the rebuild's repair derives the same list). The rows
    must reach past the newest bucket when there are more than ``cap``."""
    if len(newest_first) <= cap:
        return newest_first, ""
    cut = _bucket(newest_first[cap].id)
    if cut == _bucket(newest_first[0].id):  # the newest bucket alone is over the cap: it stays whole
        older = next((n for n in newest_first if _bucket(n.id) < cut), None)
        if older is None:
            return newest_first, ""
        cut = _bucket(older.id)
    return [n for n in newest_first if _bucket(n.id) > cut], bucket_floor(cut)


@dataclass(frozen=True)
class Page:
    items: list[StoredNotification]
    read_at: int
    floor: str
    #: Redis holds the user's whole list (False: not copied from Cassandra since Redis lost it, or ever)
    known: bool
    #: the list's version when read (what a copy of the list from Cassandra is fenced with)
    version: str = "0"

    @property
    def complete(self) -> bool:
        """True when Redis holds every notification the user has (nothing to look for in Cassandra)."""
        return self.known and not self.floor


@dataclass(frozen=True)
class Snapshot:
    """What Redis holds for one user, for the rebuild's comparison."""

    items: dict[str, str]
    buckets: dict[str, float]
    updated: dict[str, float]
    read_at: int
    floor: str
    #: the list's version when read (what the rebuild's repair is fenced with)
    version: str = "0"


class NotificationLists:
    def __init__(self, redis: Any, namespace: str, cap: int) -> None:
        self._redis = redis
        self._namespace = namespace  # of the status channels (the app id)
        self.cap = cap
        #: commands sent (the benchmark's write count): one script per recipient and batch
        self.commands = 0
        # registered: sent as EVALSHA (loaded first where a restarted Redis does not know them), not as text
        self._project, self._page = redis.register_script(_PROJECT), redis.register_script(_PAGE)
        self._unread, self._mark = redis.register_script(_UNREAD), redis.register_script(_MARK)
        self._fill = redis.register_script(_FILL)

    @staticmethod
    def _keys(user: str) -> list[str]:
        return [keys.notification_ids(user), keys.notification_updated(user), keys.notification_items(user),
                keys.notification_read(user), keys.notification_floor(user)]

    async def project(self, changes: dict[str, list[tuple[str, StoredNotification | None]]]) -> None:
        """Per recipient, each changed id's absolute outcome (None: deleted): one script each, one round trip."""
        if not changes:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for user, found in sorted(changes.items()):
                args: list[Any] = []
                for notification_id, item in found:
                    args += [notification_id, _bucket(notification_id), item.updated_at if item else 0,
                             payload_of(item) if item else ""]
                await self._project(keys=[*self._keys(user), keys.notification_version(user)],
                                    args=[keys.status_channel(self._namespace, user), self.cap, *args], client=pipe)
                self.commands += 1
            await redis_scripts.execute(pipe)

    async def page(self, user: str, after: tuple[str, int] | None, limit: int) -> Page:
        """The items below ``after`` (a position: an id and the ``updated_at`` it was served with; None: the
        newest), newest first by ``updated_at``."""
        return self.page_of(user, await self._page(**self._page_call(user, after, limit)))

    def page_in(self, pipe: Any, user: str, after: tuple[str, int] | None, limit: int) -> None:
        """Queue :meth:`page`'s read on a caller's pipeline (:meth:`page_of` reads its answer). By the script's
        text, as :meth:`unread_in` (Redis runs its cached copy; the text costs ~700 bytes on the wire)."""
        call = self._page_call(user, after, limit)
        pipe.eval(_PAGE, len(call["keys"]), *call["keys"], *call["args"])

    def _page_call(self, user: str, after: tuple[str, int] | None, limit: int) -> dict[str, Any]:
        k = self._keys(user)
        position = ["", limit, 0] if after is None else [after[0], limit, after[1]]
        return {"keys": [k[1], k[2], k[3], k[4], keys.notification_whole(user), keys.notification_version(user)],
                "args": position}

    @staticmethod
    def page_of(user: str, raw: list[Any]) -> Page:
        read_at, floor, known, version, rest = int(raw[0]), str(raw[1]), bool(int(raw[2])), str(raw[3]), raw[4:]
        items = [from_payload(user, rest[i], rest[i + 1]) for i in range(0, len(rest), 2) if rest[i + 1]]
        return Page(items, read_at, floor, known, version)

    async def fill(self, user: str, version: str, newest: list[StoredNotification], read_at: int) -> bool:
        """Copy the user's list from Cassandra (``newest``: their newest rows by id, as :func:`restore` reads
        them) as the projection would keep it, and mark it whole; False if a projection landed since ``version``
        was read (the next read copies again)."""
        kept, floor = trimmed(newest, self.cap)
        args: list[Any] = [version, read_at, floor, keys.status_channel(self._namespace, user)]
        for item in kept:
            args += [item.id, _bucket(item.id), item.updated_at, payload_of(item)]
        return bool(await self._fill(keys=[*self._keys(user), keys.notification_whole(user),
                                           keys.notification_version(user)], args=args))

    async def newer_than(self, user: str, updated_at: int, limit: int) -> list[StoredNotification]:
        """Up to ``limit`` of the items updated after ``updated_at``, oldest first."""
        ids = await self._redis.zrangebyscore(keys.notification_updated(user), f"({updated_at}", "+inf",
                                              start=0, num=limit)
        if not ids:
            return []
        payloads = await self._redis.hmget(keys.notification_items(user), ids)
        return [from_payload(user, i, p) for i, p in zip(ids, payloads, strict=True) if p]

    async def newest_update(self, user: str) -> int | None:
        """The newest ``updated_at`` of the user's list; None if Redis holds no list for them."""
        newest = await self._redis.zrevrange(keys.notification_updated(user), 0, 0, withscores=True)
        return int(newest[0][1]) if newest else None

    async def item(self, user: str, notification_id: str) -> StoredNotification | None:
        payload = await self._redis.hget(keys.notification_items(user), notification_id)
        return from_payload(user, notification_id, payload) if payload else None

    @staticmethod
    def unread_in(pipe: Any, user: str) -> None:
        """Queue the unread count on a caller's pipeline (the status read's one round trip; :func:`unread_of`
        reads its answer). By its text: a three-line script costs less to send than a load probe, and the
        pipeline may be a shared one (:mod:`sinks.redis_batching`) that cannot repair a NOSCRIPT."""
        pipe.eval(_UNREAD, 4, *_unread_keys(user))

    async def unread(self, user: str) -> Unread:
        return unread_of(await self._unread(keys=_unread_keys(user)))

    async def read_mark(self, user: str) -> int:
        """The user's read mark as Redis holds it (0: none)."""
        return int(await self._redis.get(keys.notification_read(user)) or 0)

    async def mark_read(self, user: str, read_at: int) -> bool:
        return bool(await self._mark(keys=[keys.notification_read(user)],
                                     args=[read_at, keys.status_channel(self._namespace, user)]))

    # --- rebuild and purge ---

    async def snapshot(self, user: str) -> Snapshot:
        k = self._keys(user)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(k[2])
            pipe.zrange(k[0], 0, -1, withscores=True)
            pipe.zrange(k[1], 0, -1, withscores=True)
            pipe.get(k[3])
            pipe.get(k[4])
            pipe.get(keys.notification_version(user))
            items, buckets, updated, read_at, floor, version = await pipe.execute()
        return Snapshot(dict(items), dict(buckets), dict(updated), int(read_at or 0), str(floor or ""),
                        str(version or "0"))

    async def purge(self, user: str) -> None:
        """A deleted account's list gone. The version is raised, not deleted (it expires a day later): a copy
        read before, and still under way, is refused; deleting it let one put the list back, "whole"."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(*self._keys(user), keys.notification_whole(user))
            pipe.incr(keys.notification_version(user))
            pipe.expire(keys.notification_version(user), keys.PURGED_VERSION_TTL_S)
            await pipe.execute()

    async def owners(self) -> AsyncIterator[str]:
        """Users with a Redis list (SCAN; a rebuild finds lists durable state no longer explains)."""
        async for key in self._redis.scan_iter(match=keys.notification_ids("*"), count=1000):
            yield keys.notification_owner(key)


class Copy(NamedTuple):
    """A user's list as :func:`restore` read it from Cassandra: what the projection keeps of it, the read mark, the
    floor below the kept rows, and whether Redis took the copy (False: a projection landed meanwhile)."""

    items: list[StoredNotification]
    read_at: int
    floor: str
    stored: bool


async def restore(lists: NotificationLists, store: NotificationStore, user: str, version: str) -> Copy:
    """A list Redis does not hold whole, from Cassandra: its newest rows as the projection keeps them and the read
    mark, copied to Redis on the way (fenced by ``version``, what Redis said the list's version was)."""
    newest, read_at = await store.newest_rows(user, lists.cap + 1), await store.read_at(user)
    stored = await lists.fill(user, version, newest, read_at)
    kept, floor = trimmed(newest, lists.cap)
    return Copy(kept, read_at, floor, stored)


async def copy_unless_whole(lists: NotificationLists, store: NotificationStore, user: str) -> Copy | None:
    """None when Redis holds the user's list whole (read it there); else the list copied from Cassandra, the
    version read first to fence the copy (read the copy instead: Redis may hold a lost list's newest items only,
    or have refused the copy)."""
    unread = await lists.unread(user)
    return None if unread.whole else await restore(lists, store, user, unread.version)


def page_of_copy(copy: Copy, after: tuple[str, int] | None, limit: int) -> Page:
    """The page :data:`_PAGE` would serve had Redis taken ``copy``: newest first by ``updated_at`` (ties: id,
    descending), below the position ``after``; none at or below the floor. Why serve it from the copy: a copy
    refused (a projection landed meanwhile) left the first page to Cassandra's id order, and the cursor it made
    was then read in ``updated_at`` order from the list the next read copied: the scroll skipped and repeated."""
    ordered = sorted(copy.items, key=lambda n: (n.updated_at, n.id), reverse=True)
    if after is not None:
        position, updated = after
        if position <= copy.floor:
            ordered = []
        else:
            ordered = [n for n in ordered if n.updated_at < updated or (n.updated_at == updated and n.id < position)]
    return Page(ordered[:limit], copy.read_at, copy.floor, known=True)
