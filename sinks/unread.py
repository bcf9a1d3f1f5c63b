"""The newly-unread badge's storage: durable pair marks (Cassandra) and per-user sender sets (Redis).

A set is the badge's to count once it was copied whole from Cassandra (``unread:{user}:whole``, set by the
API's background copy and by the rebuild, never by the processor), fenced by ``unread:{user}:version``, which
every projection raises. After a Redis loss, the next message made a set of one sender that counted as the
badge until someone ran `photostream rebuild unread`; now the status read that finds no marker answers what
Redis holds and has the set copied in the background, and the copy pings the user's devices.

``unread_pairs`` (sinks/migrations/0007) is the truth: per (user, sender) the two high-water message ids of
:mod:`photostream.domain.unread`. Only the ``unread`` processor writes it, and only for users whose partition
it owns, so its read-merge-write of a batch's pairs is not raced. Redis holds ``unread:{user}``, the set of
senders that count, written from the *absolute* state of every pair a batch touched (add when unread, remove
when not): a batch retried after Redis missed its writes, a replay, or `photostream rebuild unread` after a
Redis loss all converge on what Cassandra says. The Redis write of a user also publishes a ping on the user's
status channel when the set really changed (same script, so no extra round trip), for the API's live push.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from cachetools import LRUCache
from cassandra.cluster import Session
from cassandra.query import UNSET_VALUE

from photostream.domain.unread import Pair, PairMarks, unread_senders
from sinks import keys, redis_scripts
from sinks.cassandra import Gated, execute_partitions, key_chunks, pages
from sinks.redis_client import is_cluster

# KEYS per user: their set and its version; ARGV per user, in KEYS order: the status channel, how many adds and
# how many removals follow, then the adds and the removals. Every user's version is raised (a copy of the set
# read from Cassandra before this projection is refused); a user's channel gets a ping only if their set changed
# (replays and duplicates push nothing), carrying when it was written (see :func:`applied_at`). Returns how many
# users' sets changed.
_PROJECT = """
local now = redis.call('TIME')
local ping = 'unread@' .. now[1] .. string.format('%06d', now[2])
local at, users_changed = 1, 0
for k = 1, #KEYS, 2 do
  redis.call('INCR', KEYS[k + 1])
  local channel, adds, removes = ARGV[at], tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  at = at + 3
  local changed = 0
  for i = at, at + adds - 1 do changed = changed + redis.call('SADD', KEYS[k], ARGV[i]) end
  at = at + adds
  for i = at, at + removes - 1 do changed = changed + redis.call('SREM', KEYS[k], ARGV[i]) end
  at = at + removes
  if changed > 0 then
    redis.call('PUBLISH', channel, ping)
    users_changed = users_changed + 1
  end
end
return users_changed
"""
# KEYS: the set, its whole marker, its version. ARGV[1] the version the copy was read at, ARGV[2] the status
# channel, ARGV[3..] the senders. The set becomes exactly these and is known whole, unless a projection landed
# since (returns 0); the user is pinged (their devices see the restored badge).
_FILL = """
if (redis.call('GET', KEYS[3]) or '0') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if #ARGV > 2 then redis.call('SADD', KEYS[1], unpack(ARGV, 3)) end
redis.call('SET', KEYS[2], '1')
redis.call('PUBLISH', ARGV[2], 'unread')
return 1
"""
#: what a status ping says when it carries no time (the copy, the purge): the subscriber only re-reads
PING = "unread"


def applied_at(ping: str | bytes) -> float | None:
    """When the projection that sent ``ping`` wrote the badge (Redis's clock, epoch seconds), or None for a ping
    without a time. Redis answers ``TIME`` in the same script that writes, so this is the moment the badge
    changed in Redis: what "event → Redis applied" means, whenever a subscriber gets to the ping."""
    text = ping.decode() if isinstance(ping, bytes) else ping
    _, marked, micros = text.partition("@")
    return int(micros) / 1e6 if marked and micros.isdigit() else None


#: users per script call on a single server: the script holds Redis for ~2 µs per command, so a call stays
#: around a millisecond (a cluster takes one user per call: one script may only touch one slot's keys)
USERS_PER_CALL = 250


def _marks(row: Any) -> PairMarks:
    """A stored pair (rows from before migration 0029 have no block times: never blocked here)."""
    return PairMarks(row.unsent_up_to, row.read_up_to, row.blocked_at or 0, row.unblocked_at or 0)


class UnreadPairs:
    """``unread_pairs``: the batch's loads and writes, the API's fallback read and the rebuild's walk."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._gated = Gated(session)
        self._run = self._gated.run
        prepare = session.prepare
        self._q_users_pairs = prepare("SELECT user_id, sender_id, unsent_up_to, read_up_to, blocked_at, unblocked_at "
                                      "FROM unread_pairs WHERE user_id IN ?")
        self._q_user = prepare("SELECT sender_id, unsent_up_to, read_up_to, blocked_at, unblocked_at FROM unread_pairs "
                               "WHERE user_id = ?")
        self._q_users = prepare("SELECT DISTINCT user_id FROM unread_pairs")
        self._w_pair = prepare("INSERT INTO unread_pairs (user_id, sender_id, unsent_up_to, read_up_to, blocked_at, "
                               "unblocked_at) VALUES (?, ?, ?, ?, ?, ?)")
        self._d_user = prepare("DELETE FROM unread_pairs WHERE user_id = ?")
        self._d_pair = prepare("DELETE FROM unread_pairs WHERE user_id = ? AND sender_id = ?")

    async def load_users(self, users: Iterable[str]) -> dict[str, dict[str, PairMarks]]:
        """Every stored pair of ``users``, by user then sender (a user without one maps to ``{}``). The
        partitions are read whole, one IN query per chunk of users: per-request overhead, not rows, is what a
        batch of many distinct users pays for (a per-user query cost ~0.5 ms each on this hardware); a partition
        is one row per person who ever wrote to the user, small next to that."""
        partitions: dict[str, dict[str, PairMarks]] = {user: {} for user in users}
        results = await asyncio.gather(*(self._all_rows(self._q_users_pairs, (chunk,))
                                         for chunk in key_chunks(partitions)))
        for rows in results:
            for row in rows:
                partitions[row.user_id][row.sender_id] = _marks(row)
        return partitions

    async def _all_rows(self, statement: Any, params: Any) -> list[Any]:
        """Every page (a chunk of partitions may exceed one): a missed row would merge marks into nothing."""
        async with self._gated.gate:
            return [row async for page in pages(self._session, statement, params, 5000) for row in page]

    async def write(self, changed: dict[Pair, PairMarks]) -> None:
        """Absolute marks; a user's pairs whole in one batch (Cassandra applies a partition's mutations in a batch
        atomically, so a user's pairs move together), several users per batch (few requests for many users:
        :func:`sinks.cassandra.execute_partitions`). One row per pair: the sender side (whose badges a deleted
        account is in) is the table's own index (migration 0018), not a second table."""
        by_user: dict[str, list[tuple[Any, tuple[Any, ...]]]] = defaultdict(list)
        for (user, sender), marks in changed.items():
            by_user[user].append((self._w_pair, (user, sender, marks.unsent_up_to, marks.read_up_to,
                                                 marks.blocked_at or UNSET_VALUE, marks.unblocked_at or UNSET_VALUE)))
        await execute_partitions(self._run, list(by_user.values()))

    async def delete_users(self, users: Iterable[str]) -> None:
        """Every pair of deleted accounts' badges (their partitions)."""
        await asyncio.gather(*(self._run(self._d_user, (user,)) for user in users))

    async def delete_pairs(self, pairs: Iterable[Pair]) -> None:
        """Pairs of a deleted sender (whom and when they wrote is theirs to take away)."""
        await asyncio.gather(*(self._run(self._d_pair, pair) for pair in pairs))

    async def of_user(self, user_id: str) -> list[tuple[str, PairMarks]]:
        """Every pair of ``user_id`` (paged): the API's answer when Redis is down, and the rebuild's input."""
        return [(row.sender_id, _marks(row))
                async for page in pages(self._session, self._q_user, (user_id,), 1000) for row in page]

    async def unread_of(self, user_id: str) -> list[str]:
        return unread_senders(await self.of_user(user_id))

    async def users(self) -> AsyncIterator[list[str]]:
        """Every user with a pair, a page at a time."""
        async for page in pages(self._session, self._q_users, (), 1000):
            yield [row.user_id for row in page]


class OwnedPairs:
    """The pairs of the users whose partitions this loop owns, remembered between batches: a user's pairs, once
    read or written, are kept (an LRU bounded by users), so their next events cost no Cassandra read.

    Exact because only the loop that owns a user's partition writes the user's pairs (an account deletion
    included: the unread processor reads ``account-deleted`` and deletes the pairs itself), so what it
    remembers is what it last made durable. :meth:`forget` drops everything when any partition moves (a
    rebalance may let another worker write meanwhile). The memory follows a write only once it succeeded;
    after a failed one it holds the older state, and re-applying the batch's marks to that gives the same
    pairs (marks only move up).
    Measured in the unread benchmark at 5,000 events/s: the batch's read was a third of its flush time.
    """

    def __init__(self, pairs: UnreadPairs, max_users: int) -> None:
        self._pairs = pairs
        self._users: LRUCache[str, dict[str, PairMarks]] = LRUCache(maxsize=max_users)

    async def load(self, pairs: Iterable[Pair]) -> dict[Pair, PairMarks]:
        """The marks of ``pairs`` (absent pairs left out), reading only the users not remembered (their whole
        partitions: :meth:`UnreadPairs.load_users`)."""
        wanted = set(pairs)
        partitions: dict[str, dict[str, PairMarks]] = {}
        missing = []
        for user in {user for user, _ in wanted}:
            senders = self._users.get(user)
            if senders is None:
                missing.append(user)
            else:
                partitions[user] = senders
        if missing:
            loaded = await self._pairs.load_users(missing)
            self._users.update(loaded)
            partitions |= loaded
        return {(user, sender): partitions[user][sender] for user, sender in wanted if sender in partitions[user]}

    async def write(self, changed: dict[Pair, PairMarks]) -> None:
        await self._pairs.write(changed)
        for (user, sender), marks in changed.items():
            senders = self._users.get(user)
            if senders is not None:  # (one evicted meanwhile is read again when next touched)
                senders[sender] = marks

    async def delete_pairs(self, pairs: Iterable[Pair]) -> None:
        pairs = list(pairs)
        await self._pairs.delete_pairs(pairs)
        for user, sender in pairs:
            senders = self._users.get(user)
            if senders is not None:
                senders.pop(sender, None)

    async def delete_users(self, users: Iterable[str]) -> None:
        users = list(users)
        await self._pairs.delete_users(users)
        for user in users:
            self._users.pop(user, None)

    def forget(self) -> None:
        self._users.clear()


@dataclass(frozen=True)
class Projection:
    """A batch's outcome as the script calls that write it to Redis (:meth:`UnreadSets.projection`)."""

    calls: list[tuple[list[str], list[str]]]


class UnreadSets:
    """The Redis projection: ``unread:{user}`` sets."""

    def __init__(self, redis: Any, namespace: str, one_user_per_call: bool | None = None) -> None:
        self._redis = redis
        self._namespace = namespace  # of the status channels (the app id)
        self._project = redis.register_script(_PROJECT)
        self._fill = redis.register_script(_FILL)
        #: a cluster spreads users' sets over slots, and one script may only touch one slot's keys
        one_per_call = is_cluster(redis) if one_user_per_call is None else one_user_per_call
        self._users_per_call = 1 if one_per_call else USERS_PER_CALL

    def projection(self, pairs: dict[Pair, PairMarks]) -> Projection:
        """The script calls that write every touched pair's absolute outcome, :data:`USERS_PER_CALL` users per
        call (a call per user cost ~60 µs of client and server time, ~30 ms of a 5,000 events/s batch of 500:
        the unread benchmark). Built once, so a batch that sends them twice (the processor does) builds them
        once."""
        adds: dict[str, list[str]] = defaultdict(list)
        removes: dict[str, list[str]] = defaultdict(list)
        for (user, sender), marks in pairs.items():
            (adds if marks.unread else removes)[user].append(sender)
        users = sorted(adds.keys() | removes.keys())
        calls: list[tuple[list[str], list[str]]] = []
        for start in range(0, len(users), self._users_per_call):
            chunk = users[start:start + self._users_per_call]
            args: list[str] = []
            for user in chunk:
                args += [keys.status_channel(self._namespace, user), str(len(adds[user])),
                         str(len(removes[user])), *adds[user], *removes[user]]
            calls.append(([k for u in chunk for k in (keys.unread_senders(u), keys.unread_version(u))], args))
        return Projection(calls)

    async def write(self, projection: Projection) -> int:
        """Send ``projection``'s calls in one pipelined round trip; a user's status channel gets a ping if their
        set changed. Returns how many users' sets changed."""
        if not projection.calls:
            return 0
        async with self._redis.pipeline(transaction=False) as pipe:
            for call_keys, args in projection.calls:
                await self._project(keys=call_keys, args=args, client=pipe)
            changed = await redis_scripts.execute(pipe)
        return sum(int(c) for c in changed)

    async def project(self, pairs: dict[Pair, PairMarks]) -> int:
        """:meth:`projection` of ``pairs``, written (:meth:`write`)."""
        return await self.write(self.projection(pairs))

    async def clear(self, users: Iterable[str]) -> None:
        """Deleted accounts' badges: their sets gone, each user pinged (their devices, if any, see zero). The
        version is raised, not deleted (it expires a day later): a copy read before, and still under way, is
        refused; deleting it let one put the deleted user's set back, "whole"."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.delete(keys.unread_senders(user), keys.unread_whole(user))
                pipe.incr(keys.unread_version(user))
                pipe.expire(keys.unread_version(user), keys.PURGED_VERSION_TTL_S)
                pipe.publish(keys.status_channel(self._namespace, user), PING)
            await pipe.execute()

    async def senders(self, user_id: str) -> set[str]:
        return set(await self._redis.smembers(keys.unread_senders(user_id)))

    async def live(self, user_id: str) -> tuple[set[str], str]:
        """The user's set and its version (to fence a copy read after it with), in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.smembers(keys.unread_senders(user_id))
            pipe.get(keys.unread_version(user_id))
            members, version = await pipe.execute()
        return set(members), str(version or "0")

    async def fill(self, user_id: str, version: str, senders: Iterable[str]) -> bool:
        """The set becomes exactly ``senders`` (what Cassandra said, read after ``version`` was), known whole,
        and the user is pinged; False (nothing written) if a projection landed since ``version`` was read."""
        return bool(await self._fill(
            keys=[keys.unread_senders(user_id), keys.unread_whole(user_id), keys.unread_version(user_id)],
            args=[version, keys.status_channel(self._namespace, user_id), *senders]))

    async def copy(self, pairs: UnreadPairs, user_id: str) -> bool:
        """The user's set copied whole from ``unread_pairs`` (the version read first, so a projection landing
        during the read refuses the copy); False if refused (the next status read tries again)."""
        version = str(await self._redis.get(keys.unread_version(user_id)) or "0")
        return await self.fill(user_id, version, await pairs.unread_of(user_id))

    async def owners(self) -> AsyncIterator[str]:
        """Users with a non-empty set (SCAN; a rebuild finds sets durable state no longer explains)."""
        async for key in self._redis.scan_iter(match=keys.unread_senders("*"), count=1000):
            yield keys.unread_owner(key)
