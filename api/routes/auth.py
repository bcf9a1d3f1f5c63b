"""Registration, login, refresh, logout and password change (``/auth/*``).

Unlike the write gateway these handlers write Cassandra directly: credentials must be durable and unique before
the answer (a registration learns at once whether its name is free), and they are secrets, which never enter
Kafka. What others may know of a new account — its public profile — is published as ``user-registered``.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api import pending_writes, ratelimit
from api.accounts import Accounts, RefreshRefusedError, SessionRaceError, TakenError, login_bucket
from api.auth import end_sessions, revoke_access
from api.consistency import ConsistencyToken, token_key
from api.deps import CurrentClaims, ResourcesDep, SettingsDep, per_app
from api.errors import ApiError
from photostream.domain.accounts import (
    PASSWORD_MAX,
    AccountRuleError,
    check_display_name,
    check_password,
    new_username,
    normalize_email,
)
from photostream.domain.identicon import email_hash
from producers import events
from sinks.cache_aside import REDIS_DOWN
from sinks.credentials import Credentials
from sinks.profiles import cache_profile

#: (every answer here is ``Cache-Control: no-store``: :class:`api.middleware.NotStored`)
router = APIRouter(prefix="/auth", tags=["auth"])


def get_accounts(request: Request) -> Accounts:
    """One :class:`Accounts` per app (its statements are prepared once, on first use)."""
    return per_app(request, Accounts, lambda state: Accounts(state.settings, state.resources.session))


AccountsDep = Annotated[Accounts, Depends(get_accounts)]


class RegisterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(max_length=100)
    email: str = Field(max_length=320)
    password: str = Field(max_length=PASSWORD_MAX)
    display_name: str | None = Field(default=None, max_length=100)


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    login: str = Field(min_length=1, max_length=320, description="username or e-mail address")
    password: str = Field(max_length=PASSWORD_MAX)


class RefreshIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str = Field(max_length=200)


class LogoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refresh_token: str | None = Field(default=None, max_length=200)


class PasswordIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(max_length=PASSWORD_MAX)
    new_password: str = Field(max_length=PASSWORD_MAX)


def _rule(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except AccountRuleError as exc:
        raise ApiError(422, "invalid", f"{exc.field}: {exc}", exc.field) from None


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


@router.post("/register", status_code=201)
async def register(body: RegisterIn, request: Request, accounts: AccountsDep, resources: ResourcesDep,
                   settings: SettingsDep) -> dict[str, Any]:
    """A new account, signed in: ``{id, username, event_id, token}`` (``token`` for ``?after=`` on profile reads)
    and the session a login answers (access and refresh tokens). Limited
    per client address: a registration costs a password hash, and tells whether a name is taken."""
    client = request.client.host if request.client else "unknown"
    limit = ratelimit.Limit(settings.register_per_address_per_minute, settings.register_per_address_burst)
    decision = await ratelimit.take(resources.redis, f"address:{client}", "register", limit)
    if not decision.allowed:
        raise ApiError(429, "rate_limited", f"too many registrations; retry in {decision.retry_after_s}s",
                       headers={"Retry-After": str(decision.retry_after_s)})
    username = _rule(new_username, body.username)
    email = _rule(normalize_email, body.email)
    password = _rule(check_password, body.password)
    # every rule before anything is claimed: a display name refused after the claims kept the name taken
    display_name = _rule(check_display_name, body.display_name or username)
    try:
        user_id = await accounts.register(username, email, password)
    except TakenError as exc:
        raise ApiError(409, "conflict", f"{exc.field} is already taken", exc.field) from None
    event = events.user_registered(user_id=user_id, username=username, display_name=display_name)
    try:
        # the avatar URL's key (api.routes.avatars): the address's hash, never the address
        await resources.avatars.register(email_hash(email), user_id)
        result = await pending_writes.publish(resources, event)
    except BaseException:
        # an account nobody can see must not keep its name: undo, and the client retries the whole thing
        await accounts.unregister(Credentials(user_id, username, email, ""))
        await resources.avatars.forget(email_hash(email), user_id)
        raise
    with contextlib.suppress(*REDIS_DOWN):  # seen at once, as an edit is (a ``GET /users/me`` sent the moment
        # this answered was a 404 until the projector applied the event, which writes the same copy)
        await cache_profile(resources.redis, user_id, event.value, int(event.value["occurred_at"]))
    token = ConsistencyToken(result.topic, result.partition, result.offset).encode(token_key(settings))
    # signed in at once, as the contract has it (a login right after cost a second password hash)
    session = (await accounts.start_session(user_id)).body()
    return {"id": user_id, "username": username, "event_id": event.event_id, "token": token, **session}


async def _limit_login(request: Request, resources: Any, settings: Any, account_key: str,
                       action: str = "login") -> None:
    """Attempts per client address, then per account (429 with Retry-After): guessing is slow either way.

    ``action`` "reauth": a signed-in user's password check (a password change, a deletion) counts in buckets of
    its own. Why: in the login buckets, anyone who knew a username could fail ten logins a minute and so keep
    its owner from changing the password, exactly when they most need to."""
    client = request.client.host if request.client else "unknown"
    checks = ((f"address:{client}", ratelimit.Limit(settings.login_per_address_per_minute,
                                                    settings.login_per_address_burst)),
              (f"account:{account_key}", ratelimit.Limit(settings.login_per_account_per_minute,
                                                         settings.login_per_account_burst)))
    what = "login attempts" if action == "login" else "password attempts"
    for subject, limit in checks:
        decision = await ratelimit.take(resources.redis, subject, action, limit)
        if not decision.allowed:
            raise ApiError(429, "rate_limited", f"too many {what}; retry in {decision.retry_after_s}s",
                           headers={"Retry-After": str(decision.retry_after_s)})


@router.post("/login")
async def login(body: LoginIn, request: Request, accounts: AccountsDep, resources: ResourcesDep,
                settings: SettingsDep) -> dict[str, Any]:
    """An access token (short-lived JWT) and a refresh token (single use, rotated by ``/auth/refresh``)."""
    # limited under the login as typed, known or not, so limits do not reveal which accounts exist
    await _limit_login(request, resources, settings, login_bucket(body.login))
    found = await accounts.check_password(await accounts.resolve(body.login), body.password)
    if found is None:
        raise _unauthorized("wrong login or password")
    try:
        return (await accounts.sign_in(found)).body()
    except SessionRaceError:  # the password changed meanwhile: the one checked is no longer it
        raise _unauthorized("wrong login or password") from None


@router.post("/refresh")
async def refresh(body: RefreshIn, accounts: AccountsDep, resources: ResourcesDep,
                  settings: SettingsDep) -> dict[str, Any]:
    """The session's next tokens; the presented refresh token is spent. Presenting a spent one revokes the
    whole session (someone else holds a copy): its refresh tokens, and every access token of the user issued
    until now, the copy holder's included (the user's other devices refresh and carry on)."""
    try:
        return (await accounts.refresh(body.refresh_token)).body()
    except RefreshRefusedError as exc:
        if exc.reused_by is not None:
            await end_sessions(resources.revocations, settings, exc.reused_by)
        raise _unauthorized(str(exc)) from None


@router.post("/logout", status_code=204)
async def logout(claims: CurrentClaims, accounts: AccountsDep, resources: ResourcesDep,
                 body: LogoutIn | None = None) -> Response:
    """Revoke this access token (until it would have expired) and, if given, the refresh token's session."""
    if body is not None and body.refresh_token:
        await accounts.end_session(claims.user_id, body.refresh_token)
    await revoke_access(resources.revocations, claims)
    return Response(status_code=204)


@router.post("/password")
async def change_password(body: PasswordIn, claims: CurrentClaims, request: Request, accounts: AccountsDep,
                          resources: ResourcesDep, settings: SettingsDep) -> dict[str, Any]:
    """Needs the current password; ends every session (every refresh token, and every access token issued until
    now, this one included) and starts a new one."""
    new_password = _rule(check_password, body.new_password, "new_password")
    await _limit_login(request, resources, settings, claims.user_id, "reauth")
    if await accounts.check_password(claims.user_id, body.current_password) is None:
        raise ApiError(403, "forbidden", "current_password is wrong", "current_password")
    await accounts.change_password(claims.user_id, new_password)
    ended = await end_sessions(resources.revocations, settings, claims.user_id)
    return (await accounts.start_session(claims.user_id, after_ms=ended)).body()
