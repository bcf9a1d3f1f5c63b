"""Accounts: registration, password checks and login sessions, over the credential and refresh-token stores.

Secrets stay here and in Cassandra: passwords are hashed with argon2id (in a worker thread: a hash costs tens of
milliseconds of CPU, which must not stall the event loop), and nothing secret is logged or published — the
``user-registered`` event carries the public profile only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cassandra.cluster import Session

from api.auth import mint_access_token
from photostream.domain.accounts import is_email, normalize_email, normalize_username
from photostream.settings import Settings
from producers.ids import new_id, now_ms
from sinks.accounts_refresh import Outcome, RefreshTokens
from sinks.cassandra import execute
from sinks.credentials import Credentials, CredentialStore


class TakenError(Exception):
    """The username or e-mail address is someone else's; ``field`` says which."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is taken")
        self.field = field


class RefreshRefusedError(Exception):
    """The refresh token is not valid (unknown, expired, revoked, or reused — then its family is revoked, and
    ``reused_by`` names the account, whose access tokens must end too)."""

    def __init__(self, message: str, reused_by: str | None = None) -> None:
        super().__init__(message)
        self.reused_by = reused_by


class SessionRaceError(Exception):
    """The credentials changed between the password check and the session (a password change, a deletion)."""


@dataclass(frozen=True)
class LoginSession:
    """What a login or a refresh hands out."""

    user_id: str
    access_token: str
    refresh_token: str
    expires_in: int

    def body(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "access_token": self.access_token, "token_type": "bearer",
                "expires_in": self.expires_in, "refresh_token": self.refresh_token}


def typed_login(login: str) -> tuple[str, str] | None:
    """``("email", address)`` or ``("username", name)``, normalised; None for what can be neither."""
    try:
        return ("email", normalize_email(login)) if is_email(login) else ("username", normalize_username(login))
    except ValueError:
        return None


def login_bucket(login: str) -> str:
    """The per-account rate-limit bucket of a login attempt: the login as typed, normalised, whether or not it
    names an account. Why not the account's id: an account's username and address then shared one bucket, and
    a 429 on an address right after failures on a name proved that both belong to one account (an unknown
    login has a bucket of its own). The price: who knows both guesses under each."""
    typed = typed_login(login)
    return ":".join(typed) if typed is not None else f"other:{login.strip().lower()}"


class Accounts:
    def __init__(self, settings: Settings, session: Session) -> None:
        self._settings = settings
        self.credentials = CredentialStore(session)
        self._session = session
        self._q_profile_named = session.prepare("SELECT user_id FROM users WHERE username = ? LIMIT 1")
        self.refresh_tokens = RefreshTokens(session, settings.refresh_ttl_s)
        self._hasher = PasswordHasher(time_cost=settings.password_hash_time_cost,
                                      memory_cost=settings.password_hash_memory_kib,
                                      parallelism=settings.password_hash_parallelism)  # argon2id by default
        # verified against when the login names no account, so a miss costs what a wrong password costs
        self._decoy = self._hasher.hash(new_id())

    async def _profiles_named(self, username: str) -> bool:
        """Whether a profile holds ``username`` (migration 0025's index): a user an upstream service registered
        through the SDK has no claim in ``usernames``, and a registration here took their name, their profile
        link and their @mentions."""
        rows = await execute(self._session, self._q_profile_named, (username,))
        return rows.one() is not None

    async def hash_password(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _matches(self, password_hash: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def register(self, username: str, email: str, password: str) -> str:
        """A new account's id; :class:`TakenError` if the name or address is held. The claims are taken
        first (Paxos), the credentials written after; a failure in between releases what was claimed."""
        user_id = new_id()
        password_hash = await self.hash_password(password)
        if await self._profiles_named(username):  # an upstream service's user holds it (no claim of theirs)
            raise TakenError("username")
        if not await self.credentials.claim("username", username, user_id):
            raise TakenError("username")
        try:
            if not await self.credentials.claim("email", email, user_id):
                raise TakenError("email")
            try:
                await self.credentials.put(Credentials(user_id, username, email, password_hash), now_ms())
            except BaseException:
                await self.credentials.release("email", email, user_id)
                raise
        except BaseException:
            await self.credentials.release("username", username, user_id)
            raise
        return user_id

    async def unregister(self, credentials: Credentials) -> None:
        """Undo :meth:`register` (its announcement could not be published)."""
        await self.credentials.forget(credentials.user_id)
        await self.credentials.release("email", credentials.email, credentials.user_id)
        await self.credentials.release("username", credentials.username, credentials.user_id)

    async def resolve(self, login: str) -> str | None:
        """The account a login (username or e-mail) names, if any."""
        typed = typed_login(login)
        return None if typed is None else await self.credentials.owner(*typed)

    async def check_password(self, user_id: str | None, password: str) -> Credentials | None:
        """The account's credentials if ``password`` is its password. Always pays for one verification."""
        found = await self.credentials.get(user_id) if user_id is not None else None
        if found is None:
            await self._matches(self._decoy, password)
            return None
        if not await self._matches(found.password_hash, password):
            return None
        if self._hasher.check_needs_rehash(found.password_hash):  # the cost settings were raised
            rehashed = await self.hash_password(password)
            await self.credentials.rehash(found.user_id, rehashed)
            return replace(found, password_hash=rehashed)
        return found

    async def change_password(self, user_id: str, new_password: str) -> None:
        """New hash, and every login session of the user ends (a thief's refresh token dies with them)."""
        await self.credentials.set_password(user_id, await self.hash_password(new_password), now_ms())
        await self.refresh_tokens.revoke_all(user_id)

    async def sign_in(self, checked: Credentials) -> LoginSession:
        """A session for credentials whose password was just checked, unless they changed meanwhile.

        Why the second read: a password change (or an account deletion) racing this login revokes the sessions
        it finds and the access tokens minted before it ends them; a session made after that, with the old
        password, outlived the change. Read once the session exists, the credentials show every change that
        could have missed it; a later change finds it. A refused session is never handed out."""
        session = await self.start_session(checked.user_id)
        current = await self.credentials.get(checked.user_id)
        # (the time it was set, not the hash: two logins that rehashed the same password at a raised cost
        # stored two hashes, and each took the other's for a change)
        if current is None or current.changed_at != checked.changed_at:
            raise SessionRaceError("the password changed during this login")
        return session

    async def start_session(self, user_id: str, family_id: str | None = None, after_ms: int = 0) -> LoginSession:
        """``after_ms``: the user's sessions ended then (``api.auth.end_sessions``); this one starts after."""
        refresh = await self.refresh_tokens.issue(user_id, now_ms(), family_id)
        access = mint_access_token(self._settings, user_id, after_ms=after_ms)
        return LoginSession(user_id, access, refresh, self._settings.jwt_access_ttl_s)

    async def refresh(self, presented: str) -> LoginSession:
        rotation = await self.refresh_tokens.rotate(presented)
        if rotation.outcome is Outcome.REUSED:
            raise RefreshRefusedError("the refresh token was already used; every token of its session is revoked",
                                      reused_by=rotation.user_id)
        if rotation.outcome is not Outcome.ROTATED or rotation.user_id is None or rotation.family_id is None:
            raise RefreshRefusedError("invalid refresh token")
        session = await self.start_session(rotation.user_id, rotation.family_id)
        # a password change racing this refresh revoked the family after our check: its end of sessions may
        # come before the new access token was minted, so the revocation is read again now (as sign_in does)
        if await self.refresh_tokens.revoked(rotation.user_id, rotation.family_id):
            raise RefreshRefusedError("the session ended during this refresh")
        return session

    async def end_session(self, user_id: str, presented: str) -> None:
        """Revoke the refresh token's family, if the token is the caller's own."""
        owner = await self.refresh_tokens.owner(presented)
        if owner is not None and owner[0] == user_id:
            await self.refresh_tokens.revoke_family(*owner)
