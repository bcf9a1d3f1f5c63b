"""Refresh tokens and their families (login sessions) in Cassandra, written directly by the auth endpoints.

A login starts a family; each refresh marks its token used (a conditional update, so only one of two
concurrent refreshes with the same token succeeds) and mints the family's next token. Presenting a token that
was already used means someone holds a copy: the family is revoked, which ends the thief's session and the
owner's alike (the owner logs in again). Only SHA-256 digests of token secrets are stored.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import Enum
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session
from cassandra.query import BatchStatement, BatchType

from photostream.domain.accounts import RefreshToken
from producers.ids import new_id
from sinks.cassandra import applied, execute

_QUORUM = ConsistencyLevel.LOCAL_QUORUM


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Outcome(Enum):
    ROTATED = "rotated"
    INVALID = "invalid"  # unknown, expired, wrong secret or revoked family
    REUSED = "reused"  # a used token again: the family is now revoked


@dataclass(frozen=True)
class Rotation:
    outcome: Outcome
    user_id: str | None = None
    family_id: str | None = None


class RefreshTokens:
    def __init__(self, session: Session, ttl_s: int) -> None:
        self._session, self._ttl_s = session, ttl_s

        def prepare(cql: str) -> Any:
            statement = session.prepare(cql)
            statement.consistency_level = _QUORUM
            statement.serial_consistency_level = ConsistencyLevel.LOCAL_SERIAL
            return statement

        self._insert = prepare("INSERT INTO refresh_tokens (token_id, family_id, user_id, secret_hash, used, "
                               "expires_at) VALUES (?, ?, ?, ?, false, ?) USING TTL ?")
        self._get = prepare("SELECT family_id, user_id, secret_hash, expires_at, TTL(secret_hash) AS ttl "
                            "FROM refresh_tokens WHERE token_id = ?")
        self._use = prepare("UPDATE refresh_tokens USING TTL ? SET used = true WHERE token_id = ? IF used = false")
        self._touch = prepare("UPDATE refresh_families USING TTL ? SET rotated_at = ? "
                              "WHERE user_id = ? AND family_id = ?")
        self._revoked = prepare("SELECT revoked FROM refresh_families WHERE user_id = ? AND family_id = ?")
        self._revoke = prepare("UPDATE refresh_families USING TTL ? SET revoked = true "
                               "WHERE user_id = ? AND family_id = ?")
        self._families = prepare("SELECT family_id FROM refresh_families WHERE user_id = ?")

    async def issue(self, user_id: str, now_ms: int, family_id: str | None = None) -> str:
        """A new refresh token for ``user_id``, in ``family_id`` (a rotation) or a new family (a login)."""
        family = family_id or new_id()
        token = RefreshToken.new(new_id())
        await execute(self._session, self._touch, (self._ttl_s, now_ms, user_id, family))
        await execute(self._session, self._insert, (token.token_id, family, user_id, digest(token.secret),
                                                    now_ms + self._ttl_s * 1000, self._ttl_s))
        return token.encode()

    async def rotate(self, presented: str) -> Rotation:
        """Spend ``presented``: :attr:`Outcome.ROTATED` (the caller issues the family's next token),
        :attr:`Outcome.REUSED` (the family was revoked now) or :attr:`Outcome.INVALID`."""
        found = await self._find(presented)
        if found is None:
            return Rotation(Outcome.INVALID)
        token_id, row = found
        if await self.revoked(row.user_id, row.family_id):
            return Rotation(Outcome.INVALID)
        spent = await execute(self._session, self._use, (max(1, int(row.ttl or 1)), token_id))
        if not applied(spent):
            await self.revoke_family(row.user_id, row.family_id)
            return Rotation(Outcome.REUSED, row.user_id, row.family_id)
        return Rotation(Outcome.ROTATED, row.user_id, row.family_id)

    async def owner(self, presented: str) -> tuple[str, str] | None:
        """(user id, family id) of a genuine token, used or not (logout revokes the family either way)."""
        found = await self._find(presented)
        return (found[1].user_id, found[1].family_id) if found is not None else None

    async def revoke_family(self, user_id: str, family_id: str) -> None:
        await execute(self._session, self._revoke, (self._ttl_s, user_id, family_id))

    async def revoke_all(self, user_id: str) -> int:
        """Revoke every session of ``user_id`` (a password change); one single-partition batch."""
        rows = await execute(self._session, self._families, (user_id,))
        families = [row.family_id for row in rows.current_rows]
        if families:
            batch = BatchStatement(batch_type=BatchType.UNLOGGED, consistency_level=_QUORUM)
            for family in families:
                batch.add(self._revoke, (self._ttl_s, user_id, family))
            await execute(self._session, batch)
        return len(families)

    async def _find(self, presented: str) -> tuple[str, Any] | None:
        token = RefreshToken.parse(presented)
        if token is None:
            return None
        row = (await execute(self._session, self._get, (token.token_id,))).one()
        if row is None or row.secret_hash is None or not hmac.compare_digest(row.secret_hash, digest(token.secret)):
            return None
        return token.token_id, row

    async def revoked(self, user_id: str, family_id: str) -> bool:
        """A family without a row is revoked too: its row outlives every token it issued (each issue renews its
        TTL), so a missing row means the account's purge removed it, not that the session is still good."""
        row = (await execute(self._session, self._revoked, (user_id, family_id))).one()
        return row is None or bool(row.revoked)
