"""A user's live status: the newly-unread badge, presence, last-seen time and the unread notification count;
read once or streamed.

Only the user themself may look (401 without a valid token, 403 for anyone else's id). The WebSocket accepts
the token in the ``Authorization`` header or, for browsers (which cannot set headers on a WebSocket), in a
``token`` query parameter; a refused handshake is answered with the HTTP status it deserves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketState

from api.auth import AccessClaims, InvalidTokenError, check_unrevoked, verify_access
from api.deps import SignedClaims, parse_id, unauthorized, user_or_me
from api.errors import STORE_OUTAGES, ApiError, error_body
from api.realtime import Connection, StatusHub
from api.routes.reads import After, honour_after
from producers.ids import is_id

router = APIRouter(tags=["status"])
Detail = Annotated[bool, Query(description="1: also list the sender ids behind the count")]
#: WebSocket close code for a client dropped because it did not keep up (RFC 6455: "try again later")
TOO_SLOW = 1013
#: WebSocket close code for a stream whose token expired or was revoked (RFC 6455: "policy violation")
TOKEN_ENDED = 1008
CLOSE_TIMEOUT_S = 5.0


def _own(user: str, user_id: str) -> str:
    parse_id(user_id, "user_id")
    if user != user_id:
        raise ApiError(403, "forbidden", "only the user themself may read their status")
    return user_id


@router.get("/users/{user_id}/status")
async def get_status(request: Request, user_id: str, claims: SignedClaims, response: Response,
                     detail: Detail = False, after: After = None) -> dict[str, Any]:
    """``{newly_unread_count, online_status, last_seen, unread_notifications}`` (+ ``sender_ids`` with
    ``detail=1``): one Redis round trip that also checks the token's revocation, or Cassandra while Redis is
    down. (Read many times a minute by every client, so the app's clients are taken from ``app.state`` here
    rather than as two more dependencies for FastAPI to solve per request: ~5-10% of its CPU.)"""
    resources, settings = request.app.state.resources, request.app.state.settings
    user_id = user_or_me(user_id, claims.user_id)
    try:
        if claims.user_id != user_id:  # a revoked token is a 401 whoever it asks about, as on its own status
            parse_id(user_id, "user_id")
            await check_unrevoked(settings, resources.revocations, claims)
        _own(claims.user_id, user_id)
        await honour_after(after, resources, settings, response)
        return await hub_of(request).reader.read_own(claims, resources.revocations, detail=detail)
    except InvalidTokenError as exc:
        raise unauthorized(exc) from None


def hub_of(connection: Request | WebSocket) -> StatusHub:
    hub: StatusHub = connection.app.state.status_hub
    return hub


def _token(websocket: WebSocket, token: str | None) -> str | None:
    header = websocket.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer" and credentials:
        return credentials.strip()
    return token


async def _refuse(websocket: WebSocket, status: int, code: str, message: str, field: str | None = None) -> None:
    await websocket.send_denial_response(JSONResponse(error_body(code, message, field), status_code=status))


#: how ``?detail=`` spells a boolean (as the HTTP status read accepts it)
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


@router.websocket("/users/{user_id}/status/stream")
async def stream_status(websocket: WebSocket, user_id: str, token: str | None = None, detail: str = "0") -> None:
    """The current status at once, then every change, until either side closes. Refusals are HTTP answers
    before the handshake, in the API's error shape (a ``detail`` that is no boolean: 422 naming it; declared as
    a bool, FastAPI closed the socket unanswered, which clients see as a bare 403)."""
    if detail.lower() not in _TRUE | _FALSE:
        return await _refuse(websocket, 422, "invalid", "detail: not a boolean", "detail")
    with_senders = detail.lower() in _TRUE
    settings = websocket.app.state.settings
    presented = _token(websocket, token)
    if presented is None:
        return await _refuse(websocket, 401, "unauthorized", "a bearer token is required")
    revocations = websocket.app.state.resources.revocations
    try:
        claims = await verify_access(settings, revocations, presented)
    except InvalidTokenError as exc:
        return await _refuse(websocket, 401, "unauthorized", f"invalid token: {exc}")
    except STORE_OUTAGES:  # a revocation that cannot be checked is not assumed absent (as for HTTP)
        return await _refuse(websocket, 503, "unavailable", "try again shortly")
    if user_id == "me":  # (as on every route naming a user: the caller)
        user_id = claims.user_id
    if not is_id(user_id):  # the HTTP read's answer to a path that names no user
        return await _refuse(websocket, 422, "invalid", "user_id: not a valid id", "user_id")
    if claims.user_id != user_id:
        return await _refuse(websocket, 403, "forbidden", "only the user themself may stream their status")
    await websocket.accept()
    hub = hub_of(websocket)
    connection = await hub.join(user_id, with_senders)
    watch = TokenWatch(claims, revocations)
    try:
        await _serve(websocket, connection, watch)
    finally:
        await hub.leave(connection)
    if watch.ended:
        await _close(websocket, TOKEN_ENDED, "the token expired or was revoked: reconnect with a new one")
    elif connection.dropped:
        await _close(websocket, TOO_SLOW, "too slow: reconnect for the current status")


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    """The close frame waits behind what the client has not read: bounded, then the server gives up on it."""
    if websocket.application_state == WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(websocket.close(code=code, reason=reason), CLOSE_TIMEOUT_S)


class TokenWatch:
    """The stream lives as long as its token: it ends when the token expires, and nothing is pushed with a token
    revoked meanwhile (a logout, a password change, a deleted account): each push checks it first."""

    def __init__(self, claims: AccessClaims, revocations: Any) -> None:
        self.claims, self._revocations = claims, revocations
        self.ended = False

    async def still_valid(self) -> bool:
        if self.claims.expires_at > time.time():
            try:
                if not await self._revocations.refused(self.claims):
                    return True
            except STORE_OUTAGES:  # cannot tell: Redis is down, so nothing is being pushed anyway
                return True
        self.ended = True
        return False

    def expires_in_s(self) -> float:
        return max(0.0, self.claims.expires_at - time.time())


async def _serve(websocket: WebSocket, connection: Connection, token: TokenWatch) -> None:
    """Push the connection's statuses until the first of: the client leaves, the connection is dropped as too
    slow, the token is found revoked before a push, or it expires.

    Two tasks a connection (the pushes, and the client's frames, read to notice it leaving) and a timer for the
    expiry, all ending one future. Until stop 60 there was a task per condition, four with their waiters: with
    10,000 sockets a process tracked ~250 objects a connection, and each of its full collections, which walk
    them all, stood the event loop still for 1.3-1.9 s while they connected (see photostream.gc_tuning)."""
    loop = asyncio.get_running_loop()
    over: asyncio.Future[None] = loop.create_future()

    def end(*_: object) -> None:
        if not over.done():
            over.set_result(None)

    def expire() -> None:
        token.ended = True
        end()

    async def send() -> None:
        while True:
            status = await connection.queue.get()
            if not await token.still_valid():
                return
            await websocket.send_json(status)

    async def receive() -> None:
        """The client sends nothing we need, text or binary; this notices it leaving. (``receive_text`` raised
        on a binary frame, which ended the stream without a close frame and took the user offline.)"""
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass

    tasks = [asyncio.create_task(send()), asyncio.create_task(receive())]
    for task in tasks:
        task.add_done_callback(end)
    connection.on_drop = end
    expiry = loop.call_later(token.expires_in_s(), expire)
    try:
        if not connection.dropped:  # (dropped before the callback was set: nothing to wait for)
            await over
    finally:
        expiry.cancel()
        connection.on_drop = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
