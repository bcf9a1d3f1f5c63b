"""Profile sink: user-registered / profile-updated → Cassandra ``users`` and the Redis profile hash.

Both writes are absolute (the event carries the whole public profile), so replays are idempotent;
Cassandra writes use the event time as the cell timestamp, so an older event replayed later loses.
"""

from __future__ import annotations

from typing import Any

from cassandra.cluster import Session

from sinks import keys
from sinks.cassandra import execute

_UPSERT = (
    "INSERT INTO users (user_id, username, display_name, bio, avatar_image_id, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
PROFILE_FIELDS = ("username", "display_name", "bio", "avatar_image_id")


class ProfileSink:
    """Applies profile events to both stores."""

    def __init__(self, session: Session, redis: Any) -> None:
        self._session = session
        self._redis = redis
        self._upsert = session.prepare(_UPSERT)

    async def apply(self, topic: str, event: dict[str, Any]) -> None:
        occurred_ms = int(event["occurred_at"])
        await execute(self._session, self._upsert, (
            event["user_id"], event["username"], event["display_name"], event.get("bio"),
            event.get("avatar_image_id"), occurred_ms, occurred_ms * 1000,
        ))
        await cache_profile(self._redis, event["user_id"], event, occurred_ms)


async def cache_profile(redis: Any, user_id: str, profile: dict[str, Any], updated_ms: int) -> None:
    """Refresh the hot copy unless it already holds a newer version."""
    key = keys.user_profile(user_id)
    cached = await redis.hget(key, "updated_at")
    if cached is not None and int(cached) > updated_ms:
        return
    mapping = {f: profile.get(f) or "" for f in PROFILE_FIELDS} | {"user_id": user_id, "updated_at": updated_ms}
    async with redis.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=mapping)
        pipe.expire(key, keys.PROFILE_TTL_S)
        await pipe.execute()


async def read_profile(session: Session, redis: Any, user_id: str) -> dict[str, Any] | None:
    """Redis first; on a miss Cassandra, then fill Redis."""
    cached = await redis.hgetall(keys.user_profile(user_id))
    if cached:
        return {f: (cached.get(f) or None) for f in PROFILE_FIELDS} | {
            "user_id": user_id, "updated_at": int(cached["updated_at"])}
    rows = await execute(session, "SELECT * FROM users WHERE user_id = %s", (user_id,))
    row = rows.one() if rows is not None else None
    if row is None:
        return None
    updated_ms = int(row.updated_at.timestamp() * 1000) if row.updated_at else 0
    profile = {f: getattr(row, f) for f in PROFILE_FIELDS} | {"user_id": user_id, "updated_at": updated_ms}
    await cache_profile(redis, user_id, profile, updated_ms)
    return profile
