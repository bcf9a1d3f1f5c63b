"""The FastAPI application, built from settings (``create_app``), clients opened in the lifespan."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import errors, middleware, realtime
from api.lean import PAGED, LeanRoute, route_of
from api.log_redaction import uvicorn_log_config
from api.resources import ApiResources
from api.routes import account as account_routes
from api.routes import (
    auth,
    feed,
    hashtags,
    health,
    posts_read,
    reads,
    safety,
    search,
    social,
    status,
    suggestions,
    uploads,
    users,
    writes,
)
from api.routes import avatars as avatar_routes
from api.routes import notifications as notification_routes
from api.routes import photo_tags as photo_tag_routes
from photostream import loop_lag
from photostream.gc_tuning import API_YOUNG_THRESHOLD, settle_after_startup
from photostream.settings import Settings
from sinks import keys

PREFIX = "/api/v1"
REQUESTS = Counter("photostream_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("photostream_http_request_seconds", "HTTP request latency", ["method", "route", "status"],
                    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


def create_app(settings: Settings) -> FastAPI:
    if settings.publisher_only:  # (its secrets were never checked: the placeholders would verify tokens)
        raise ValueError("PHOTOSTREAM_PUBLISHER_ONLY is for processes that only publish events, not the API")
    keys.use_namespace(settings.namespace)
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.resources = ApiResources.open(settings)
        app.state.status_hub = realtime.open_hub(settings, app.state.resources)
        # the clients and prepared statements live as long as the process
        settle_after_startup(API_YOUNG_THRESHOLD)
        lag_probe = loop_lag.start("api")
        try:
            yield
        finally:
            lag_probe.cancel()
            await app.state.status_hub.close()
            await app.state.resources.close()

    # no redirect for a trailing slash: a 307 with an empty body (and a client that re-sends a POST's body to
    # the new address, or does not) where every other unknown path is the 404 in the error shape
    app = FastAPI(title="photostream", version="0.1.0", lifespan=lifespan, redirect_slashes=False,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.settings = settings
    errors.install(app)
    app.include_router(health.router)
    # The most-read routes first: a request is matched against the routers in this order, and passing one
    # costs ~6 µs (FastAPI matches an included router's routes twice); last in the list, the status badge
    # paid ~90 µs of its ~700 µs for it. No path below is also matched by one above it.
    for router in (status.router, feed.router, notification_routes.router, hashtags.router, reads.router,
                   posts_read.router, social.router, users.router, auth.router, avatar_routes.router,
                   account_routes.router, writes.router, uploads.router, safety.router, photo_tag_routes.router,
                   search.router, suggestions.router):
        app.include_router(router, prefix=PREFIX)

    # in front of every route: the lean lane of the three most-read ones (api.lean), which matches only the
    # requests it serves exactly as these routes do; every other request goes on to them
    app.router.routes[:0] = [
        LeanRoute(PREFIX, route_of(status.router, status.get_status)),
        LeanRoute(PREFIX, route_of(notification_routes.router, notification_routes.get_notifications), PAGED),
        LeanRoute(PREFIX, route_of(feed.router, feed.get_feed), PAGED),
    ]
    middleware.install(app, settings, PREFIX)
    app.add_middleware(RequestMetrics)  # outermost: it sees the status every other layer answered
    return app


class RequestMetrics(middleware.HttpOnly):
    """Request count and latency per route template (a plain ASGI middleware: Starlette's
    ``BaseHTTPMiddleware`` costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = [500]

        async def remember_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            LATENCY.labels(scope["method"], route, str(status[0])).observe(time.perf_counter() - started)
            REQUESTS.labels(scope["method"], route, str(status[0])).inc()


def server_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the API (the benchmarks' servers use the same). WebSockets without permessage-deflate:
    the only stream carries ~100-byte status frames, which compression does not shrink, and each compressed
    connection holds a zlib context pair for its lifetime (memory per connection: benchmark 7, where one
    process holds 10,000)."""
    return {"log_level": "info", "access_log": settings.api_access_log, "ws_per_message_deflate": False,
            # credentials in query strings redacted, and no line per WebSocket handshake without the access log
            "log_config": uvicorn_log_config(settings.api_access_log),
            # a client's address is the connection's, unless a trusted proxy (TRUSTED_PROXIES) names it
            "proxy_headers": bool(settings.trusted_proxies), "forwarded_allow_ips": settings.trusted_proxies or None}


def run_api(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, **server_options(settings))
