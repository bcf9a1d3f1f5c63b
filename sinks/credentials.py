"""Credentials in Cassandra: username and e-mail claims (lightweight transactions) and password hashes.

Written by the API directly, at QUORUM, never through Kafka: these rows hold secrets, and a registration must
know at once whether its name is free. Claims use Paxos (``IF NOT EXISTS``), so under any number of concurrent
registrations exactly one wins a name; the loser's claims are released conditionally (``IF user_id = mine``), so
a release can never free someone else's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import Session

from sinks.cassandra import applied, execute, ms_of

_QUORUM = ConsistencyLevel.LOCAL_QUORUM
_SERIAL = ConsistencyLevel.LOCAL_SERIAL


@dataclass(frozen=True)
class Credentials:
    user_id: str
    username: str
    email: str
    password_hash: str
    #: when the password was last set (ms; a rehash of the same password keeps it): what a session checks
    changed_at: int = 0


class CredentialStore:
    def __init__(self, session: Session) -> None:
        self._session = session

        def prepare(cql: str, serial: bool = False) -> Any:
            statement = session.prepare(cql)
            statement.consistency_level = _QUORUM
            if serial:
                statement.serial_consistency_level = _SERIAL
            return statement

        self._claim = {
            "username": prepare("INSERT INTO usernames (username, user_id) VALUES (?, ?) IF NOT EXISTS", True),
            "email": prepare("INSERT INTO emails (email, user_id) VALUES (?, ?) IF NOT EXISTS", True),
        }
        self._release = {
            "username": prepare("DELETE FROM usernames WHERE username = ? IF user_id = ?", True),
            "email": prepare("DELETE FROM emails WHERE email = ? IF user_id = ?", True),
        }
        self._owner = {
            "username": prepare("SELECT user_id FROM usernames WHERE username = ?"),
            "email": prepare("SELECT user_id FROM emails WHERE email = ?"),
        }
        self._put = prepare("INSERT INTO credentials (user_id, username, email, password_hash, created_at, "
                            "password_changed_at) VALUES (?, ?, ?, ?, ?, ?)")
        self._get = prepare("SELECT user_id, username, email, password_hash, password_changed_at FROM credentials "
                            "WHERE user_id = ?")
        self._rehash = prepare("UPDATE credentials SET password_hash = ? WHERE user_id = ?")
        self._set_password = prepare("UPDATE credentials SET password_hash = ?, password_changed_at = ? "
                                     "WHERE user_id = ?")
        self._forget = prepare("DELETE FROM credentials WHERE user_id = ?")
        self._disable = prepare("UPDATE credentials SET password_hash = null WHERE user_id = ?")
        self._identity = prepare("SELECT username, email FROM credentials WHERE user_id = ?")

    async def claim(self, kind: str, value: str, user_id: str) -> bool:
        """Take ``value`` (a normalised username or e-mail) for ``user_id``; False if someone holds it."""
        rows = await execute(self._session, self._claim[kind], (value, user_id))
        return applied(rows)

    async def release(self, kind: str, value: str, user_id: str) -> None:
        await execute(self._session, self._release[kind], (value, user_id))

    async def owner(self, kind: str, value: str) -> str | None:
        row = (await execute(self._session, self._owner[kind], (value,))).one()
        return str(row.user_id) if row is not None else None

    async def put(self, credentials: Credentials, now_ms: int) -> None:
        await execute(self._session, self._put, (credentials.user_id, credentials.username, credentials.email,
                                                 credentials.password_hash, now_ms, now_ms))

    async def get(self, user_id: str) -> Credentials | None:
        row = (await execute(self._session, self._get, (user_id,))).one()
        if row is None or row.password_hash is None:
            return None
        return Credentials(row.user_id, row.username, row.email, row.password_hash,
                           ms_of(row.password_changed_at) if row.password_changed_at else 0)

    async def set_password(self, user_id: str, password_hash: str, now_ms: int) -> None:
        await execute(self._session, self._set_password, (password_hash, now_ms, user_id))

    async def rehash(self, user_id: str, password_hash: str) -> None:
        """The same password hashed at the current cost: not a change (sessions stay, ``changed_at`` too)."""
        await execute(self._session, self._rehash, (password_hash, user_id))

    async def forget(self, user_id: str) -> None:
        """Undo a registration that could not be announced, or end a deleted account (its claims are released
        by the caller)."""
        await execute(self._session, self._forget, (user_id,))

    async def disable(self, user_id: str) -> None:
        """No password matches any more (an account being deleted): login is refused at once, while the row
        still names the username and e-mail address the purge releases."""
        await execute(self._session, self._disable, (user_id,))

    async def identity(self, user_id: str) -> tuple[str, str] | None:
        """(username, e-mail) of the account, disabled or not."""
        row = (await execute(self._session, self._identity, (user_id,))).one()
        return (row.username, row.email) if row is not None and row.username is not None else None
