"""Avatars by e-mail hash: which user a hash names, which of their photos is active, and whether the CDN was
told about the last change.

- ``register`` (the API, at registration, after the e-mail claim): hash -> user and user -> hash. Only the hash
  is stored here; the address stays with the credentials.
- ``activate`` / ``mark_purged`` (``streams.avatars``, on profile-updated): the active image with the event
  time as the cell timestamp (an older event replayed later loses), then the time of the change whose purge
  was delivered. A change written but not yet purged is what a retried batch finds and purges again.
- ``lookup`` (``GET /avatar/{hash}``): one single-partition read.
"""

from __future__ import annotations

from dataclasses import dataclass

from cassandra.cluster import Session

from sinks.cassandra import execute


@dataclass(frozen=True)
class Avatar:
    user_id: str
    image_id: str | None
    #: event time (ms) of the active image's change, 0 when none was ever set
    avatar_at: int
    #: event time (ms) of the last change whose purge was delivered (or needed none)
    purged_at: int


class AvatarDirectory:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._w_hash = session.prepare("INSERT INTO avatars_by_hash (email_hash, user_id) VALUES (?, ?)")
        self._w_user = session.prepare("INSERT INTO user_email_hashes (user_id, email_hash) VALUES (?, ?)")
        self._d_hash = session.prepare("DELETE FROM avatars_by_hash WHERE email_hash = ?")
        self._d_user = session.prepare("DELETE FROM user_email_hashes WHERE user_id = ?")
        self._q_hash = session.prepare(
            "SELECT user_id, image_id, avatar_at, purged_at FROM avatars_by_hash WHERE email_hash = ?")
        self._q_user = session.prepare("SELECT email_hash FROM user_email_hashes WHERE user_id = ?")
        self._w_active = session.prepare(
            "UPDATE avatars_by_hash USING TIMESTAMP ? SET image_id = ?, avatar_at = ? WHERE email_hash = ?")
        self._w_purged = session.prepare("UPDATE avatars_by_hash SET purged_at = ? WHERE email_hash = ?")

    async def register(self, email_hash: str, user_id: str) -> None:
        await execute(self._session, self._w_user, (user_id, email_hash))
        await execute(self._session, self._w_hash, (email_hash, user_id))

    async def forget(self, email_hash: str, user_id: str) -> None:
        """Undo :meth:`register` (a registration that could not be announced)."""
        await execute(self._session, self._d_hash, (email_hash,))
        await execute(self._session, self._d_user, (user_id,))

    async def hash_of(self, user_id: str) -> str | None:
        row = (await execute(self._session, self._q_user, (user_id,))).one()
        return str(row.email_hash) if row is not None else None

    async def lookup(self, email_hash: str) -> Avatar | None:
        row = (await execute(self._session, self._q_hash, (email_hash,))).one()
        if row is None or row.user_id is None:
            return None
        return Avatar(str(row.user_id), row.image_id, int(row.avatar_at or 0), int(row.purged_at or 0))

    async def activate(self, email_hash: str, image_id: str | None, at_ms: int) -> None:
        await execute(self._session, self._w_active, (at_ms * 1000, image_id, at_ms, email_hash))

    async def mark_purged(self, email_hash: str, at_ms: int) -> None:
        await execute(self._session, self._w_purged, (at_ms, email_hash))
