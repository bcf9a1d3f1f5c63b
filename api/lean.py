"""A lean lane in front of the most-read routes: the same endpoint function, called without FastAPI's
per-request dependency solving, for the requests whose every part the lane understands.

Why: FastAPI solves every declared parameter of a route on every request (the token scheme, the path and query
parameters, their annotations inspected anew each time) before the endpoint runs, then validates what it
returned. Measured in-process, that was ~100 µs of the status badge's ~240 µs, and the badge, the notifications
page and the home feed are read many times a minute by every client.

What the lane takes: a ``GET`` of its path with a bearer token that verifies and only the query parameters it
reads, each plain (a limit of digits in range, a cursor no longer than FastAPI allows). It then calls the
route's endpoint with the same arguments FastAPI would have given (by parameter name: the request, the claims,
a response for headers, the app's resources and settings, path parameters, the query values, defaults for the
rest) and serialises the answer as FastAPI does (pydantic, straight to JSON bytes).

What it leaves to FastAPI: everything else. For any other request the lane does not match, so the router goes
on to the FastAPI route, which answers as documented (401 without a valid token, 422 naming the field, ``after``
and ``detail``). Errors, the OpenAPI document (the lane is not in it) and every rare case have one
implementation; the middleware (rate limits, request metrics) runs around both alike.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from starlette.routing import Match, Route
from starlette.types import Receive, Scope, Send

from api.auth import AccessClaims, InvalidTokenError, decode_access_token
from api.paging import CURSOR_MAX, MAX_LIMIT

#: a query value → what the endpoint takes, or None for a value the lane leaves to FastAPI
Parser = Callable[[str], Any]
_LEAN = "photostream.lean"
#: what FastAPI passes by parameter name, from the request (anything else: a path or query value, or the default)
_FROM_REQUEST: dict[str, Callable[[Request, AccessClaims, Response], Any]] = {
    "request": lambda request, _claims, _response: request,
    "claims": lambda _request, claims, _response: claims,
    "response": lambda _request, _claims, response: response,
    "resources": lambda request, _claims, _response: request.app.state.resources,
    "settings": lambda request, _claims, _response: request.app.state.settings,
}


def page_limit(value: str) -> int | None:
    """A ``limit`` of plain digits within 1..MAX_LIMIT; anything else is FastAPI's to refuse (422)."""
    if not (value.isascii() and value.isdigit()):
        return None
    limit = int(value)
    return limit if 1 <= limit <= MAX_LIMIT else None


def page_cursor(value: str) -> str | None:
    """A ``cursor`` within FastAPI's ``max_length`` (the endpoint itself judges what it says, "" included)."""
    return value if len(value) <= CURSOR_MAX else None


PAGED: Mapping[str, Parser] = {"limit": page_limit, "cursor": page_cursor}


def route_of(router: APIRouter, endpoint: Callable[..., Any]) -> APIRoute:
    """The route of ``router`` that ``endpoint`` serves."""
    return next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint)


def bearer_token(scope: Scope) -> str | None:
    """The credentials of an ``Authorization: Bearer …`` header (any case of the scheme, as ``HTTPBearer``)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            return credentials if scheme.lower() == "bearer" and credentials else None
    return None


class LeanRoute(Route):
    """Serves the endpoint of ``fronted`` (a route of a router included under ``prefix``) for the requests
    described in the module docstring; matches no other. Requests it serves are recorded under ``fronted``
    (``scope["route"]``, as FastAPI records them: the request metrics' route label is the same either way)."""

    def __init__(self, prefix: str, fronted: APIRoute, query: Mapping[str, Parser] | None = None) -> None:
        super().__init__(prefix + fronted.path, fronted.endpoint, methods=["GET"], include_in_schema=False)
        self._fronted = fronted
        self._endpoint = fronted.endpoint
        self._query = dict(query or {})
        self._parameters = [(name, p.default is inspect.Parameter.empty)
                            for name, p in inspect.signature(self._endpoint).parameters.items()]
        #: the answer dumped as FastAPI dumps it, with the route's response model (its return type); not validated
        #: first as FastAPI does (a copy of the page, ~2% of a feed read's CPU): these endpoints build their dicts
        self._answer: TypeAdapter[Any] = TypeAdapter(Any if fronted.response_model is None else fronted.response_model)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "GET":
            return Match.NONE, {}
        match, child = super().matches(scope)
        if match is not Match.FULL:
            return Match.NONE, {}
        query = self._parsed_query(scope["query_string"])
        token = bearer_token(scope)
        if query is None or token is None:
            return Match.NONE, {}
        try:
            claims = decode_access_token(scope["app"].state.settings, token)
        except InvalidTokenError:
            return Match.NONE, {}
        child[_LEAN] = (claims, query)
        child["route"] = self._fronted
        return Match.FULL, child

    def _parsed_query(self, raw: bytes) -> dict[str, Any] | None:
        """The query's values as the endpoint takes them; None if any is not the lane's (an unknown or repeated
        name, a value its parser leaves to FastAPI)."""
        if not raw:
            return {}
        found: dict[str, Any] = {}
        for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):
            parse = self._query.get(name)
            parsed = None if parse is None or name in found else parse(value)
            if parsed is None:
                return None
            found[name] = parsed
        return found

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        claims, query = scope[_LEAN]
        request = Request(scope, receive)
        headers = Response()  # (FastAPI's sub-response: what the endpoint sets, merged into the answer)
        del headers.headers["content-length"]
        headers.status_code = None  # type: ignore[assignment]  # (set by the endpoint, or the default 200)
        path = scope["path_params"]
        arguments: dict[str, Any] = {}
        for name, required in self._parameters:
            source = _FROM_REQUEST.get(name)
            if source is not None:
                arguments[name] = source(request, claims, headers)
            elif name in path:
                arguments[name] = path[name]
            elif name in query:
                arguments[name] = query[name]
            elif required:
                raise TypeError(f"{self.path}: the lean lane has no value for {name!r}")
        content = await self._endpoint(**arguments)
        if isinstance(content, Response):
            answer = content
        else:
            answer = Response(self._answer.dump_json(content), status_code=headers.status_code or 200,
                              media_type="application/json")
            answer.headers.raw.extend(headers.headers.raw)
        await answer(scope, receive, send)
