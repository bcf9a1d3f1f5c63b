"""The API's edge: small plain-ASGI middlewares that answer before (or instead of) the routes.

Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which costs a task and a stream per request. Each
answers in the standard ``{"error": {...}}`` shape. A request a middleware has nothing to do with is handed on
without a frame of its own: its ``__call__`` is a plain function returning the inner app's awaitable, and only
the requests it acts on run its coroutine. (A WebSocket passes every layer for as long as it is open: with a
suspended coroutine a layer, a process holding 10,000 kept eight more objects per socket for its full
collections to walk, and every GET paid for a frame per layer that only looked at its scope.)

:func:`install` stacks them in the one order that works (outermost first): errors are shielded around everything
else, bodies are bounded before anything reads them, forged consistency tokens are refused before a read spends
a Redis round trip on its rate limit.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import degraded, ratelimit
from api.consistency import ConsistencyToken, InvalidConsistencyTokenError, token_key
from api.errors import error_body, unhandled_response
from photostream.settings import Settings


def install(app: FastAPI, settings: Settings, prefix: str) -> None:
    """Add the edge middlewares to ``app`` (Starlette wraps the last added outermost). A read rate of 0 leaves
    the read limit out (for a deployment whose proxy limits per address already)."""
    if settings.rate_limit_reads_per_second > 0:
        app.add_middleware(ReadRateLimit, limit=ratelimit.Limit(settings.rate_limit_reads_per_second * 60,
                                                                settings.rate_limit_reads_burst), prefix=prefix)
    app.add_middleware(ConsistencyGuard, key=token_key(settings))
    app.add_middleware(JsonBodies)
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_body_bytes)
    app.add_middleware(ErrorShield)
    app.add_middleware(NotStored, prefix=f"{prefix}/auth/")
    app.add_middleware(HeadAsGet)
    if settings.cors_allow_origins:  # outside the rest: a browser's preflight is answered before any limit
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_allow_origins,
                           allow_methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-None-Match"],
                           expose_headers=EXPOSED_HEADERS,
                           max_age=600)


#: the answer headers a browser page may read: what clients act on (retry timing, read-your-writes, the feed's
#: source, caching validators)
EXPOSED_HEADERS = ["Retry-After", "X-Photostream-Consistency", "X-Photostream-Feed-Source", "ETag", "Location"]


class HeadAsGet:
    """``HEAD`` is answered as the ``GET`` of the same path without its body (RFC 9110 §9.3.2): status and
    headers (length, type, caching validators) as a ``GET`` would have them. FastAPI routes list ``GET`` only,
    so a proxy's, a CDN's or a client's ``HEAD`` of an image or a profile was a 405. Outermost, so every layer
    (rate limit, body limit, error shield) treats it as the read it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return self.app(scope, receive, send)
        return self._head(scope, receive, send)

    async def _head(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def bodiless(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        # a copy for the app, never the server's own scope: uvicorn reads the method while the answer is sent
        # (changed to GET there, it expected the body the length announced, logged "Response content shorter
        # than Content-Length" and closed the connection after every HEAD). What the router records in it (the
        # matched route, which the request metrics outside read) is copied back.
        inner = {**scope, "method": "GET"}
        try:
            await self.app(inner, receive, bodiless)
        finally:
            scope.update((key, value) for key, value in inner.items() if key != "method")


class NotStored:
    """Every answer under ``prefix`` (the credential routes) is ``Cache-Control: no-store`` (RFC 6749 §5.1):
    successes carry tokens, and refusals are marked too, whichever layer answered them (a route, an error
    handler, the body limit). Outermost of these, so it sees every answer."""

    def __init__(self, app: ASGIApp, prefix: str) -> None:
        self.app, self.prefix = app, prefix

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            return self.app(scope, receive, send)
        return self._marked(scope, receive, send)

    async def _marked(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                message = {**message, "headers": [*headers, (b"cache-control", b"no-store")]}
            await send(message)

        await self.app(scope, receive, marked)


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str,
                  field: str | None = None, headers: dict[str, str] | None = None) -> None:
    await JSONResponse(error_body(code, message, field), status, headers=headers)(scope, receive, send)


class HttpOnly:
    """A middleware that acts on HTTP requests only: anything else (a WebSocket, the lifespan) goes straight to
    the inner app, without a frame of this layer (see the module docstring). Subclasses define ``_http``."""

    app: ASGIApp

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        return self._http(scope, receive, send) if scope["type"] == "http" else self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class ErrorShield(HttpOnly):
    """Whatever escapes the routes and the inner middlewares becomes a proper answer here: a store outage a
    503 with ``Retry-After``, anything else a 500 — both ``{"error"}`` bodies without internals, the details
    logged. (Starlette's ``ServerErrorMiddleware`` would answer plain text and re-raise every exception into
    the server log; nothing reaches it now unless the response had already started.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # half an answer is out: all that is left is to drop the connection
                raise
            await unhandled_response(exc, scope["method"], scope["path"])(scope, receive, send)


class BodyLimit(HttpOnly):
    """Request bodies over ``max_bytes`` answer 413: at once from ``Content-Length``, or as soon as a chunked
    body streams past the limit (the app then sees a disconnect, and whatever it answers is dropped)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        received = 0
        refused = started = False

        async def bounded_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        await self._too_large(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if not refused:  # an app failing on the cut-off body is expected; anything else is not ours
                raise

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _answer(scope, receive, send, 413, "too_large",
                      f"request body over {self.max_bytes} bytes", headers={"Connection": "close"})


class JsonBodies:
    """A request body the API cannot read (``Content-Type: text/plain``, a form) is a 415 naming the media type
    to send: it was a 422 "Input should be a valid dictionary" on a body the client believed valid. Bodies
    without a type are read as JSON, as FastAPI reads them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH", "DELETE"):
            headers = dict(scope["headers"])
            sent = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            has_body = headers.get(b"content-length", b"0") != b"0" or b"transfer-encoding" in headers
            if sent and has_body and sent != b"application/json" and not sent.endswith(b"+json"):
                return _answer(scope, receive, send, 415, "unsupported_media_type",
                               f"a body of type {sent.decode(errors='replace')!r} cannot be read: send "
                               "application/json")
        return self.app(scope, receive, send)


class ConsistencyGuard:
    """Every ``?after=`` token is verified here, for every route, before any route runs: only tokens this
    deployment signed can make a read wait; a forged or tampered one is a 422 naming ``after`` at once.
    Routes then read the already-verified token with ``ConsistencyToken.decode``."""

    def __init__(self, app: ASGIApp, key: bytes) -> None:
        self.app, self.key = app, key

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        # every query string is parsed, as the routes parse it: a name written percent-encoded (``%61fter=``)
        # passed a check of the raw bytes, and a forged token held the read for the whole wait
        if scope["type"] == "http" and scope["query_string"]:
            for token in parse_qs(scope["query_string"].decode("latin-1")).get("after", []):
                try:
                    ConsistencyToken.verify(token, self.key)
                except InvalidConsistencyTokenError as exc:
                    return _answer(scope, receive, send, 422, "invalid", str(exc), "after")
        return self.app(scope, receive, send)


class ReadRateLimit:
    """Reads (GET/HEAD under the API prefix) are limited per client address: a Redis token bucket shared by
    all API replicas, taken in small leases (:class:`api.ratelimit.AddressLeases`: one EVALSHA per lease,
    not per read).

    The address is the connection's peer as the ASGI server reports it (uvicorn substitutes
    ``X-Forwarded-For`` only from proxies it trusts, so a client cannot pick its own bucket). The default
    (``rate_limit_reads_per_second``, ``rate_limit_reads_burst``) is generous for one client; a load generator
    on one address is not a client, so ``make bench`` and the integration tests raise the rate — the limiter
    still runs, and its round trip is in the benchmark figures. No address is exempt, not even loopback: a
    deployment behind a local proxy would otherwise exempt everyone. With Redis unreachable the limit fails
    open (counted and logged by :mod:`api.degraded`): the limit protects the stores from one client, and
    refusing every read instead would turn a cache outage into a full read outage; each route still needs
    what it reads, and most answer 503 without Redis anyway."""

    def __init__(self, app: ASGIApp, limit: ratelimit.Limit, prefix: str) -> None:
        self.app, self.prefix = app, prefix
        self.leases = ratelimit.AddressLeases(limit)

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD") and scope["path"].startswith(self.prefix):
            return self._limited(scope, receive, send)
        return self.app(scope, receive, send)

    async def _limited(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        address = client[0] if client else "unknown"
        redis: Any = scope["app"].state.resources.redis
        try:
            decision = await self.leases.take(redis, address)
        except degraded.REDIS_OUTAGES as exc:  # fail open: see the class docstring
            degraded.note("read_limit", exc)
            await self.app(scope, receive, send)
            return
        if not decision.allowed:
            await _answer(scope, receive, send, 429, "rate_limited",
                          f"too many reads from this address; retry in {decision.retry_after_s}s",
                          headers={"Retry-After": str(decision.retry_after_s)})
            return
        await self.app(scope, receive, send)
