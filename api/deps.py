"""Request dependencies as named aliases: the settings, the acting user, and the shared clients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import AccessClaims, InvalidTokenError, decode_access_token, verify_access
from api.errors import OPTIONAL_BEARER, ApiError
from photostream.settings import Settings
from producers.ids import is_id

_bearer = HTTPBearer(auto_error=False)
#: the same scheme for the public reads, where a token is optional: the OpenAPI document lists it as such
#: (:func:`api.errors.document_error_shape`), so generated clients call them anonymously too
_optional_bearer = HTTPBearer(auto_error=False, scheme_name=OPTIONAL_BEARER)
T = TypeVar("T")


# The two plain accessors are ``async`` on purpose: FastAPI runs a sync dependency in a worker thread, a
# hand-off that cost more than the rest of a cached read.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_resources(request: Request) -> Any:
    return request.app.state.resources


def _presented(credentials: HTTPAuthorizationCredentials | None) -> str:
    """The bearer token of the request; a 401 without one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "unauthorized", "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    return credentials.credentials


def unauthorized(exc: InvalidTokenError) -> ApiError:
    """The 401 for a token refused as invalid, expired or revoked."""
    return ApiError(401, "unauthorized", f"invalid token: {exc}", headers={"WWW-Authenticate": "Bearer"})


async def current_claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessClaims:
    """The verified, unrevoked access token (logout needs its id and expiry)."""
    token = _presented(credentials)
    try:
        return await verify_access(request.app.state.settings, request.app.state.resources.revocations, token)
    except InvalidTokenError as exc:
        raise unauthorized(exc) from None


async def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """The verified token's subject: the only source of the acting user."""
    return (await current_claims(request, credentials)).user_id


async def optional_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_optional_bearer)],
) -> str | None:
    """The verified token's subject, or None for an anonymous caller of a public read. A token that is
    present but invalid is still a 401, and so are credentials of another scheme (``Basic …``): a caller is
    never silently downgraded to anonymous."""
    if credentials is None:
        if request.headers.get("authorization"):
            _presented(None)  # (raises the 401)
        return None
    return await current_user(request, credentials)


async def signed_claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> AccessClaims:
    """A bearer token's claims, its signature, issuer and expiry verified but **not its revocation**: for a route
    that checks the revocation inside its own Redis round trip (:func:`api.auth.checked_reads`: the status
    badge and the notifications page, read many times a minute by every client; :func:`api.auth.checked_alongside`:
    the home feed), saving one. A route taking this must check it before answering; every other route takes
    :data:`CurrentUser`."""
    token = _presented(credentials)
    try:
        return decode_access_token(request.app.state.settings, token)
    except InvalidTokenError as exc:
        raise unauthorized(exc) from None


def per_app(request: Request, kind: Callable[..., T], build: Callable[[Any], T]) -> T:
    """The app's one ``kind``, made by ``build(app.state)`` on first use: a repository prepares its statements
    once per app, not per request (nor at import, before the session exists)."""
    made: dict[Any, Any] = request.app.state.__dict__.setdefault("per_app", {})
    if kind not in made:
        made[kind] = build(request.app.state)
    found: T = made[kind]
    return found


def parse_id(value: str, field: str) -> str:
    """Path ids must be canonical UUIDs; anything else is a 422 naming the field."""
    if not is_id(value):
        raise ApiError(422, "invalid", f"{field}: not a valid id", field)
    return value


def user_or_me(user_id: str, viewer: str | None) -> str:
    """A path's user id, ``me`` being the caller (anonymous: 401, as for every route that needs a token: it was a
    422 calling ``me`` no valid id on one route)."""
    if user_id == "me":
        if viewer is None:
            raise ApiError(401, "unauthorized", "a bearer token is required for /users/me",
                           headers={"WWW-Authenticate": "Bearer"})
        return viewer
    return user_id


CurrentUser = Annotated[str, Depends(current_user)]
CurrentClaims = Annotated[AccessClaims, Depends(current_claims)]
OptionalUser = Annotated[str | None, Depends(optional_user)]
#: a signed token whose revocation the route itself checks (see :func:`signed_claims`)
SignedClaims = Annotated[AccessClaims, Depends(signed_claims)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ResourcesDep = Annotated[Any, Depends(get_resources)]
