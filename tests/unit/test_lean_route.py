"""The lean lane's matching (api.lean): it takes only the requests it serves exactly as the FastAPI route would,
and matches no other, so the router goes on to the route. (Its answers beside the route's, through the real
stack: tests/integration/test_lean_reads.py.)"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import APIRouter, Request, Response
from starlette.routing import Match

from api.auth import mint_access_token
from api.lean import PAGED, LeanRoute, bearer_token, page_cursor, page_limit, route_of
from api.paging import MAX_LIMIT
from photostream.settings import Settings
from producers.ids import new_id


async def paged(request: Request, claims: Any, response: Response, limit: int = 20, cursor: str | None = None,
                after: str | None = None) -> dict[str, Any]:
    response.headers["X-Seen"] = f"{claims.user_id} {limit} {cursor}"
    return {"limit": limit, "cursor": cursor, "after": after}


def scope(settings: Settings, path: str = "/feed", query: bytes = b"", token: str | None = "",
          method: str = "GET", scheme: str = "Bearer") -> dict[str, Any]:
    headers = [(b"host", b"x")]
    if token is not None:
        headers.append((b"authorization", f"{scheme} {token or mint_access_token(settings, new_id())}".encode()))
    return {"type": "http", "method": method, "path": path, "root_path": "", "query_string": query,
            "headers": headers, "app": SimpleNamespace(state=SimpleNamespace(settings=settings))}


@pytest.fixture()
def route() -> LeanRoute:
    router = APIRouter()
    router.get("/feed")(paged)
    return LeanRoute("", route_of(router, paged), PAGED)


def test_a_plain_read_with_a_valid_token_is_the_lanes(settings: Settings, route: LeanRoute) -> None:
    for query in (b"", b"limit=5", b"cursor=abc&limit=100", b"cursor="):
        assert route.matches(scope(settings, query=query))[0] is Match.FULL, query


@pytest.mark.parametrize("query", [b"limit=0", f"limit={MAX_LIMIT + 1}".encode(), b"limit=x", b"limit=",
                                   b"limit=%C2%B2", b"limit=5&limit=6", b"after=tok", b"detail=1", b"other=1",
                                   b"cursor=" + b"c" * 201])
def test_a_query_the_lane_does_not_read_plainly_goes_to_the_route(
        settings: Settings, route: LeanRoute, query: bytes) -> None:
    assert route.matches(scope(settings, query=query))[0] is Match.NONE


def test_no_token_a_bad_one_or_another_scheme_go_to_the_route(settings: Settings, route: LeanRoute) -> None:
    assert route.matches(scope(settings, token=None))[0] is Match.NONE
    assert route.matches(scope(settings, token="not.a.token"))[0] is Match.NONE
    assert route.matches(scope(settings, scheme="Basic"))[0] is Match.NONE
    assert route.matches(scope(settings, scheme="bearer"))[0] is Match.FULL  # (the scheme in any case)


def test_other_methods_and_paths_are_not_the_lanes(settings: Settings, route: LeanRoute) -> None:
    assert route.matches(scope(settings, method="POST"))[0] is Match.NONE
    assert route.matches(scope(settings, method="HEAD"))[0] is Match.NONE
    assert route.matches(scope(settings, path="/feed/x"))[0] is Match.NONE
    assert route.matches({"type": "websocket", "path": "/feed"})[0] is Match.NONE


def test_the_limit_and_cursor_parsers() -> None:
    assert [page_limit(v) for v in ("1", "020", str(MAX_LIMIT), "0", "-1", "+5", "5.0", " 5")] == \
        [1, 20, MAX_LIMIT, None, None, None, None, None]
    assert page_cursor("") == "" and page_cursor("c" * 200) == "c" * 200 and page_cursor("c" * 201) is None


def test_the_bearer_token_is_read_as_httpbearer_reads_it() -> None:
    def of(value: bytes) -> str | None:
        return bearer_token({"headers": [(b"authorization", value)]})
    assert (of(b"Bearer abc"), of(b"BEARER abc"), of(b"Bearer "), of(b"Basic abc"), of(b"abc")) == \
        ("abc", "abc", None, None, None)
    assert bearer_token({"headers": []}) is None


async def test_the_endpoint_gets_what_fastapi_would_give_it(settings: Settings, route: LeanRoute) -> None:
    user = new_id()
    request_scope = scope(settings, query=b"limit=7", token=mint_access_token(settings, user))
    match, child = route.matches(request_scope)
    assert match is Match.FULL
    request_scope.update(child)
    assert child["route"].path == "/feed" and child["route"].endpoint is paged  # (the route FastAPI records)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await route.handle(request_scope, receive, send)
    start, body = sent
    assert start["status"] == 200
    assert (b"x-seen", f"{user} 7 None".encode()) in start["headers"]
    assert body["body"] == b'{"limit":7,"cursor":null,"after":null}'
