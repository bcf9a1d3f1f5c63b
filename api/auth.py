"""Bearer JWTs: HS256 with a shared secret or RS256 with a key pair, from settings.

The acting user is always the token's ``sub``; request bodies never name the actor.
"""

from __future__ import annotations

import time

import jwt

from photostream.settings import Settings
from producers.ids import is_id


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


def mint_access_token(settings: Settings, user_id: str, ttl_s: int | None = None) -> str:
    """A signed access token for ``user_id`` (used by `photostream token` and the auth endpoints)."""
    now = int(time.time())
    claims = {"sub": user_id, "iss": settings.jwt_issuer, "iat": now,
              "exp": now + (ttl_s or settings.jwt_access_ttl_s), "typ": "access"}
    return jwt.encode(claims, _signing_key(settings), algorithm=settings.jwt_algorithm)


def verify_access_token(settings: Settings, token: str) -> str:
    """The user id the token speaks for."""
    try:
        claims = jwt.decode(token, _verifying_key(settings), algorithms=[settings.jwt_algorithm],
                            issuer=settings.jwt_issuer, options={"require": ["sub", "exp", "iss"]})
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(str(exc)) from None
    subject = claims.get("sub")
    if claims.get("typ") != "access" or not isinstance(subject, str) or not is_id(subject):
        raise InvalidTokenError("not an access token for a user")
    return subject
