"""Profile sink: user-registered / profile-updated → Cassandra ``users`` and the Redis profile hash.

Both writes are absolute (the event carries the whole public profile), so replays are idempotent;
Cassandra writes use the event time as the cell timestamp, so an older event replayed later loses, and the
Redis copy and the search row (sinks/user_search.py) follow the row the write left (none after the account's
purge).
``is_private`` comes with profile-updated v2: user-registered reads as public; a v1 profile-updated (written
by a service not upgraded) leaves it as it was (decoded as None). profile-updated v3 also carries the user's
people-tag settings: they go to their own table (sinks/tag_settings.py), not into the public profile; a v1/v2
event leaves them as they were.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cassandra.cluster import Session
from cassandra.query import ValueSequence

from sinks import cache_aside, keys
from sinks.cassandra import execute, execute_grouped, key_chunks, ms_of
from sinks.redis_bulk import hgetall_many
from sinks.tag_settings import TagSettingsStore, settings_of
from sinks.user_search import UserSearch

_UPSERT = (
    "INSERT INTO users (user_id, username, display_name, bio, avatar_image_id, is_private, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
#: a profile-updated written before privacy existed: every field but ``is_private``
_UPSERT_KEEPING_PRIVACY = (
    "INSERT INTO users (user_id, username, display_name, bio, avatar_image_id, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
PROFILE_FIELDS = ("username", "display_name", "bio", "avatar_image_id")
#: booleans are kept in the Redis hash as "1"/"0" (a hash written before the field existed reads as public)
FLAG_FIELDS = ("is_private",)
#: profiles per multi-partition read
_IN_CHUNK = 100
# cache_profile as one atomic step: write the hash unless it already holds a newer version, or the account's
# deletion was accepted (a fill from a row read just before the purge deleted it and its copy put the copy back
# for its week: the purge marks the account closed first). KEYS[1] the hash, KEYS[2] the closed-account mark;
# ARGV[1] updated_at, ARGV[2] ttl, then field/value pairs.
_FILL = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
local cached = redis.call('HGET', KEYS[1], 'updated_at')
if cached and tonumber(cached) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


class ProfileSink:
    """Applies profile events to both stores."""

    def __init__(self, session: Session, redis: Any) -> None:
        self._session = session
        self._redis = redis
        self._upsert = session.prepare(_UPSERT)
        self._upsert_keeping_privacy = session.prepare(_UPSERT_KEEPING_PRIVACY)
        self._rows = session.prepare("SELECT user_id, username, display_name, bio, avatar_image_id, is_private, "
                                     "updated_at FROM users WHERE user_id IN ?")
        self._tag_settings = TagSettingsStore(session)
        self._search = UserSearch(session)

    async def apply(self, topic: str, event: dict[str, Any]) -> None:
        await self.apply_many([(topic, event)])

    async def apply_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Every event's rows in a few grouped requests (upserts stamped with their event's time: their order does
        not matter), then the profiles as the writes left them, read in one multi-partition request per 100
        users, refreshed in Redis in one pipelined round trip (benchmark 16: per event, three requests cost the
        projector more CPU than the rows)."""
        statements: list[tuple[Any, tuple[Any, ...]]] = []
        for topic, event in events:
            occurred_ms = int(event["occurred_at"])
            fields = (event["user_id"], event["username"], event["display_name"], event.get("bio"),
                      event.get("avatar_image_id"))
            if topic == "profile-updated" and event.get("is_private") is None:
                statements.append((self._upsert_keeping_privacy, (*fields, occurred_ms, occurred_ms * 1000)))
            else:
                statements.append((self._upsert, (*fields, bool(event.get("is_private")), occurred_ms,
                                                  occurred_ms * 1000)))
            settings = settings_of(event)
            if topic == "profile-updated" and settings is not None:  # who may tag the user (v3)
                statements.append(self._tag_settings.upsert(event["user_id"], settings, occurred_ms))
        await execute_grouped(self._session, statements)
        # the hot copy is what the writes left durable, not the events: a user-registered delivered again after
        # the account's purge (whose delete outranks it) brought the deleted profile back for the copy's week
        # the chunks' reads at once (one after another, a 1,000-event slice waited for ten round trips in a row)
        found = await asyncio.gather(*(execute(self._session, self._rows, (ValueSequence(chunk),))
                                       for chunk in key_chunks((event["user_id"] for _, event in events), _IN_CHUNK)))
        rows = [row for result in found for row in result.current_rows]
        if not rows:
            return
        # the search rows from the rows too, beside the hot copies: a search row then always names a profile
        # written with that name (a search finding a row before its profile took it for stale, and deleted it),
        # and a replayed older event lists the current name again, never its own
        async with self._redis.pipeline(transaction=False) as pipe:
            for row in rows:
                profile = _from_row(row)
                pipe.eval(_FILL, *_fill_keys(row.user_id), profile["updated_at"], keys.PROFILE_TTL_S,
                          *_fill_pairs(row.user_id, profile))
            await asyncio.gather(pipe.execute(), execute_grouped(self._session, [
                listing for row in rows for listing in self._search.listings(
                    row.user_id, row.username, row.display_name, ms_of(row.updated_at) if row.updated_at else 0)]))


async def cache_profile(redis: Any, user_id: str, profile: dict[str, Any], updated_ms: int) -> None:
    """Refresh the hot copy unless it already holds a newer version, in one atomic step (:data:`_FILL`).

    Why atomic: a check, then a write, let a newer copy land in between (a profile turned private, written by
    the projector while an API read's older, public one was on its way), and the older one then won for the
    copy's whole lifetime."""
    await redis.eval(_FILL, *_fill_keys(user_id), updated_ms, keys.PROFILE_TTL_S,
                     *_fill_pairs(user_id, profile))


async def read_profile(session: Session, redis: Any, user_id: str) -> dict[str, Any] | None:
    """Redis first; on a miss Cassandra, then fill Redis."""
    cached = await redis.hgetall(keys.user_profile(user_id))
    if cached:
        return _from_hash(user_id, cached)
    rows = await execute(session, "SELECT * FROM users WHERE user_id = %s", (user_id,))
    row = rows.one() if rows is not None else None
    if row is None:
        return None
    profile = _from_row(row)
    updated_ms = profile["updated_at"]
    await cache_profile(redis, user_id, profile, updated_ms)
    return profile


async def read_profiles(session: Session, redis: Any, user_ids: list[str],
                        reads: Any = None) -> dict[str, dict[str, Any]]:
    """:func:`read_profile` for many users in a constant number of round trips: one Redis command (on
    ``reads``, the API's batching client, when given), one Cassandra read per 100 misses, one pipelined fill.
    Unknown users are absent from the answer."""
    wanted = list(dict.fromkeys(user_ids))
    if not wanted:
        return {}
    try:
        cached = await hgetall_many(reads if reads is not None else redis, [keys.user_profile(u) for u in wanted])
    except cache_aside.REDIS_DOWN as exc:  # Redis down: every profile from Cassandra
        cache_aside.missed("profiles", exc)
        cached, redis = [{}] * len(wanted), None
    found: dict[str, dict[str, Any]] = {}
    for user_id, fields in zip(wanted, cached, strict=True):
        if fields:
            found[user_id] = _from_hash(user_id, fields)
    missing = [u for u in wanted if u not in found]
    loaded: dict[str, dict[str, Any]] = {}
    for start in range(0, len(missing), _IN_CHUNK):
        rows = await execute(session, "SELECT user_id, username, display_name, bio, avatar_image_id, is_private, "
                             "updated_at FROM users WHERE user_id IN %s",
                             (ValueSequence(missing[start:start + _IN_CHUNK]),))
        for row in rows.current_rows:
            loaded[row.user_id] = _from_row(row)
    if loaded and redis is not None:
        async with redis.pipeline(transaction=False) as pipe:
            for user_id, profile in loaded.items():
                pipe.eval(_FILL, *_fill_keys(user_id), profile["updated_at"], keys.PROFILE_TTL_S,
                          *_fill_pairs(user_id, profile))
            await pipe.execute()
    return found | loaded


def _fill_keys(user_id: str) -> tuple[int, str, str]:
    """:data:`_FILL`'s key count and keys (one slot: both keys carry the user's hash tag)."""
    return 2, keys.user_profile(user_id), keys.closed_account(user_id)


def _fill_pairs(user_id: str, profile: dict[str, Any]) -> list[str]:
    """The hash's field/value pairs as :data:`_FILL` takes them (``updated_at`` is its own argument)."""
    return [v for f, value in _hash_fields(profile).items() for v in (f, value)] + ["user_id", user_id]


def _hash_fields(profile: dict[str, Any]) -> dict[str, str]:
    """The profile as Redis hash fields (strings; "" for absent)."""
    return {f: profile.get(f) or "" for f in PROFILE_FIELDS} | {
        f: "1" if profile.get(f) else "0" for f in FLAG_FIELDS}


def _from_hash(user_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """A cached profile; a flag the hash does not hold (written before the flag existed) reads as None:
    unknown, which readers that decide visibility must ask Cassandra about (``api.hydrate``)."""
    return {f: (fields.get(f) or None) for f in PROFILE_FIELDS} | {
        f: (fields[f] == "1" if f in fields else None) for f in FLAG_FIELDS} | {
        "user_id": user_id, "updated_at": int(fields["updated_at"])}


def _from_row(row: Any) -> dict[str, Any]:
    return {f: getattr(row, f) for f in PROFILE_FIELDS} | {f: bool(getattr(row, f, None)) for f in FLAG_FIELDS} | {
        "user_id": row.user_id, "updated_at": ms_of(row.updated_at) if row.updated_at else 0}
