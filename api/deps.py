"""Request dependencies as named aliases: the settings, the acting user, and the shared clients."""

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import AccessClaims, InvalidTokenError, decode_access_token, verify_access
from api.errors import OPTIONAL_BEARER, ApiError
from photostream.settings import Settings
from producers.ids import is_id

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


class _TokenScheme(HTTPBearer):
    """The bearer scheme and what a route needs from its token, in one dependency.

    Each subclass *is* the security scheme (so the OpenAPI document lists it) and answers with the verified
    token itself. Declared the usual way (``Depends(current_user)`` on an ``HTTPBearer`` parsing the header),
    FastAPI solved two levels of dependencies per request: ~5% of a status read's CPU, measured in-process."""

    def __init__(self, scheme_name: str = "HTTPBearer") -> None:  # (one scheme in the OpenAPI document)
        super().__init__(auto_error=False, scheme_name=scheme_name)

    async def credentials(self, request: Request) -> HTTPAuthorizationCredentials | None:
        return await super().__call__(request)


class _CurrentClaims(_TokenScheme):
    async def __call__(self, request: Request) -> AccessClaims:  # type: ignore[override]
        """The verified, unrevoked access token (logout needs its id and expiry)."""
        return await _verified(request, _presented(await self.credentials(request)))


class _CurrentUser(_CurrentClaims):
    async def __call__(self, request: Request) -> str:  # type: ignore[override]
        """The verified token's subject: the only source of the acting user."""
        return (await super().__call__(request)).user_id


class _OptionalUser(_TokenScheme):
    async def __call__(self, request: Request) -> str | None:  # type: ignore[override]
        """The verified token's subject, or None for an anonymous caller of a public read. A token that is
        present but invalid is still a 401, and so are credentials of another scheme (``Basic …``): a caller is
        never silently downgraded to anonymous."""
        credentials = await self.credentials(request)
        if credentials is None:
            if request.headers.get("authorization"):
                _presented(None)  # (raises the 401)
            return None
        return (await _verified(request, _presented(credentials))).user_id


class _SignedClaims(_TokenScheme):
    async def __call__(self, request: Request) -> AccessClaims:  # type: ignore[override]
        """A bearer token's claims, its signature, issuer and expiry verified but **not its revocation**: for a
        route that checks the revocation inside its own Redis round trip (:func:`api.auth.checked_reads`: the
        status badge and the notifications page, read many times a minute by every client;
        :func:`api.auth.checked_alongside`: the home feed), saving one. A route taking this must check it before
        answering; every other route takes :data:`CurrentUser`."""
        token = _presented(await self.credentials(request))
        try:
            return decode_access_token(request.app.state.settings, token)
        except InvalidTokenError as exc:
            raise unauthorized(exc) from None


async def _verified(request: Request, token: str) -> AccessClaims:
    try:
        return await verify_access(request.app.state.settings, request.app.state.resources.revocations, token)
    except InvalidTokenError as exc:
        raise unauthorized(exc) from None


current_claims = _CurrentClaims()
current_user = _CurrentUser()
#: the same scheme for the public reads, where a token is optional: the OpenAPI document lists it as such
#: (:func:`api.errors.document_error_shape`), so generated clients call them anonymously too
optional_user = _OptionalUser(scheme_name=OPTIONAL_BEARER)
signed_claims = _SignedClaims()


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
