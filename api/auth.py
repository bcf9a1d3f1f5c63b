"""Bearer JWTs: HS256 with a shared secret or RS256 with a key pair, from settings.

The acting user is always the token's ``sub``; request bodies never name the actor. Every token carries an id
(``jti``): logging out revokes that id until the token would have expired anyway. Revocations are durable in
Cassandra and projected to one Redis key per revoked id with the token's remaining lifetime as TTL, so the list
stays as small as the set of live revoked tokens and a check is one round trip (:mod:`sinks.revocations`).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import jwt

from api import degraded
from photostream.domain.accounts import MAX_ACCESS_LIFETIME_S as MAX_ACCESS_LIFETIME_S
from photostream.domain.accounts import outliving_every_token
from photostream.settings import Settings
from producers.ids import is_id, new_id
from sinks import redis_scripts
from sinks.revocations import CHECK_ANSWERS

T = TypeVar("T")


class InvalidTokenError(Exception):
    """The token is missing, malformed, expired or not ours."""


def _signing_key(settings: Settings) -> str:
    if settings.jwt_algorithm == "RS256":
        if settings.jwt_private_key is None:
            raise InvalidTokenError("RS256 signing needs PHOTOSTREAM_JWT_PRIVATE_KEY")
        return settings.jwt_private_key.get_secret_value()
    return settings.jwt_secret.get_secret_value()


def _verifying_key(settings: Settings) -> str:
    if settings.jwt_algorithm == "RS256":
        if not settings.jwt_public_key:
            raise InvalidTokenError("RS256 verification needs PHOTOSTREAM_JWT_PUBLIC_KEY")
        return settings.jwt_public_key
    return settings.jwt_secret.get_secret_value()


def mint_access_token(settings: Settings, user_id: str, ttl_s: int | None = None, after_ms: int = 0) -> str:
    """A signed access token for ``user_id`` (used by `photostream token` and the auth endpoints); ``after_ms``:
    issued after that instant even if the clock has not moved past it (the session started once the user's
    sessions ended, :func:`end_sessions`)."""
    now_ms = max(int(time.time() * 1000), after_ms + 1)
    now = now_ms // 1000
    claims = {"sub": user_id, "iss": settings.jwt_issuer, "iat": now, "iat_ms": now_ms,
              "exp": now + (ttl_s or settings.jwt_access_ttl_s), "typ": "access", "jti": new_id()}
    return jwt.encode(claims, _signing_key(settings), algorithm=settings.jwt_algorithm)


@dataclass(frozen=True)
class AccessClaims:
    """What a verified access token says: who, which token, until when (epoch seconds), since when (epoch ms:
    a token issued before its user's sessions ended is refused, :func:`end_sessions`)."""

    user_id: str
    jti: str
    expires_at: int
    issued_ms: int = 0


#: tokens this process verified: token → (the algorithm, key and issuer it was verified with, its claims).
#: Verifying a signature costs ~100 µs of CPU on every request a client makes with the same token; a verified
#: token stays valid until its ``exp``, still checked on every use (revocation too, in :func:`verify_access`).
_verified: OrderedDict[str, tuple[tuple[str, str, str], AccessClaims]] = OrderedDict()
_VERIFIED_MAX = 50_000


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """Signature, issuer, expiry and shape; not revocation (see :func:`verify_access`)."""
    verifier = (settings.jwt_algorithm, _verifying_key(settings), settings.jwt_issuer)
    known = _verified.get(token)
    if known is not None and known[0] == verifier:
        claims = known[1]
        if claims.expires_at <= time.time():
            del _verified[token]
            raise InvalidTokenError("Signature has expired")
        _verified.move_to_end(token)
        return claims
    verified = _decode(settings, token)
    _verified[token] = (verifier, verified)
    if len(_verified) > _VERIFIED_MAX:
        _verified.popitem(last=False)
    return verified


def _decode(settings: Settings, token: str) -> AccessClaims:
    try:
        claims = jwt.decode(token, _verifying_key(settings), algorithms=[settings.jwt_algorithm],
                            issuer=settings.jwt_issuer, options={"require": ["sub", "exp", "iss", "jti"]})
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(str(exc)) from None
    subject, jti = claims.get("sub"), claims.get("jti")
    if claims.get("typ") != "access" or not isinstance(subject, str) or not is_id(subject) \
            or not isinstance(jti, str) or not jti:
        raise InvalidTokenError("not an access token for a user")
    issued_ms = claims.get("iat_ms")  # (tokens minted before it was a claim: their second, rounded down)
    issued = int(issued_ms) if isinstance(issued_ms, int) else int(claims.get("iat") or 0) * 1000
    if int(claims["exp"]) - issued // 1000 > MAX_ACCESS_LIFETIME_S:  # (no iat: issued 0, refused too)
        raise InvalidTokenError("the token lives longer than any access token this service mints")
    return AccessClaims(subject, jti, int(claims["exp"]), issued)


def verify_access_token(settings: Settings, token: str) -> str:
    """The user id the token speaks for (signature and expiry only: for tools without Redis)."""
    return decode_access_token(settings, token).user_id


async def verify_access(settings: Settings, revocations: Any, token: str, unchecked_ok: bool = False
                        ) -> AccessClaims:
    """A token the API accepts: valid (:func:`decode_access_token`), not logged out and not of a deleted
    account (``revocations``: :class:`sinks.revocations.RevocationLedger`, one Redis round trip).

    A Redis outage propagates (503): a revocation that cannot be checked is not assumed absent — unless the
    caller passes ``unchecked_ok`` (only the few reads that must outlive Redis: the home feed) and
    ``revocation_fail_open_reads`` is on. Then a signed, unexpired token is accepted unchecked (counted and
    logged by :mod:`api.degraded`): for at most the token's remaining lifetime (``jwt_access_ttl_s``), a token
    logged out earlier could read its own user's feed and status again — never write, never read anything
    else. That is the price of issues 8 and 10's "with Redis down, answer from Cassandra". A Redis that lost
    its data (up, but empty) is not an outage: the ledger answers from Cassandra until it reloaded Redis."""
    claims = decode_access_token(settings, token)
    await check_unrevoked(settings, revocations, claims, unchecked_ok)
    return claims


async def check_unrevoked(settings: Settings, revocations: Any, claims: AccessClaims, unchecked_ok: bool = False
                          ) -> None:
    """:func:`verify_access`'s revocation half, for claims already decoded: raises :class:`InvalidTokenError`
    for a revoked token; a Redis outage as there."""
    try:
        revoked = await revocations.refused(claims)
    except degraded.REDIS_OUTAGES as exc:
        if not (unchecked_ok and settings.revocation_fail_open_reads):
            raise
        degraded.note("revocation_check", exc)
        return
    if revoked:
        raise InvalidTokenError("the token was revoked")


async def checked_alongside(settings: Settings, revocations: Any, claims: AccessClaims, read: Awaitable[T],
                            unchecked_ok: bool = False) -> T:
    """``read``'s answer, ``claims``' revocation checked concurrently with it: started in the same event-loop
    turn, their first Redis commands share one round trip (the API's batching client,
    :mod:`sinks.redis_batching`) instead of the check costing one of its own before the read. For a revoked
    token the answer is dropped and :class:`InvalidTokenError` raised; an outage as in :func:`verify_access`.
    Only for reads without an effect a revoked token must not cause (the home feed's page)."""
    check, answer = await asyncio.gather(check_unrevoked(settings, revocations, claims, unchecked_ok), read,
                                         return_exceptions=True)
    if isinstance(check, BaseException):
        raise check
    if isinstance(answer, BaseException):
        raise answer
    return answer


async def checked_reads(revocations: Any, redis: Any, claims: AccessClaims,
                        queue: Callable[[Any], None]) -> list[Any]:
    """The answers to the reads ``queue`` puts on a pipeline, sent in one round trip with ``claims``' revocation
    check (:meth:`sinks.revocations.RevocationLedger.queue_check`): a read route taking
    :data:`api.deps.SignedClaims` saves the round trip :func:`verify_access` would cost. Raises
    :class:`InvalidTokenError` for a revoked token; a Redis outage propagates."""
    async with redis.pipeline(transaction=False) as pipe:
        revocations.queue_check(pipe, claims)
        queue(pipe)
        answers: list[Any] = await redis_scripts.execute(pipe)
    if await revocations.verdict(answers[:CHECK_ANSWERS], claims):
        raise InvalidTokenError("the token was revoked")
    return answers[CHECK_ANSWERS:]


async def close_account(revocations: Any, user_id: str) -> None:
    """Refuse every access token of ``user_id`` from now on, for good: the marker is also the account's
    tombstone, which every processor checks (:func:`sinks.revocations.closed_among`)."""
    await revocations.revoke("account", user_id, None)


async def end_sessions(revocations: Any, settings: Settings, user_id: str) -> int:
    """Refuse every access token of ``user_id`` issued until now (a password change, a stolen refresh token),
    this millisecond included; tokens issued later (the new session's, a refresh on another device) are accepted.
    Returns that instant (epoch ms), for the new session's token to be minted after it."""
    return int(await revocations.revoke("before", user_id, _outliving_every_token(settings)))


def _outliving_every_token(settings: Settings) -> int:
    return outliving_every_token(settings.jwt_access_ttl_s)


async def revoke_access(revocations: Any, claims: AccessClaims, now_s: float | None = None) -> None:
    """Refuse ``claims``' token from now until it expires (nothing to keep once it has)."""
    remaining = claims.expires_at - int(now_s if now_s is not None else time.time())
    if remaining > 0:  # (a verified token lives at most MAX_ACCESS_LIFETIME_S: within Cassandra's TTL bound)
        await revocations.revoke("token", claims.jti, min(remaining, MAX_ACCESS_LIFETIME_S) + 1)
