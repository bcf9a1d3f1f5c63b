"""The simulator's HTTP side: one ``httpx.AsyncClient`` (pooled, bounded), a development token per acting user,
and a latency sample per request, by route kind.

An unreachable API, a 5xx (a store behind it down) or a timeout raise :class:`ServiceDownError`: the workload says so
in one line and retries later instead of crashing. Other answers are returned as they are: 4xx are outcomes.
"""

from __future__ import annotations

import time
from typing import Any

import httpx

from api.auth import mint_access_token
from photostream.settings import Settings
from photostream.simulate.stats import Stats

#: tokens are minted for a day and re-minted after half of it (a simulation may run for hours)
TOKEN_TTL_S = 24 * 3600


class ServiceDownError(RuntimeError):
    """The API (or a store behind it) or S3 did not answer usefully; try again later."""


class ApiClient:
    def __init__(self, settings: Settings, stats: Stats, concurrency: int) -> None:
        self.settings, self.stats = settings, stats
        self.base = f"http://{settings.api_host}:{settings.api_port}"
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        self.http = httpx.AsyncClient(base_url=self.base + "/api/v1", timeout=30, limits=limits)
        self._tokens: dict[str, tuple[str, float]] = {}

    def token(self, user: str) -> str:
        token, minted = self._tokens.get(user, ("", 0.0))
        if not token or time.monotonic() - minted > TOKEN_TTL_S / 2:
            token = mint_access_token(self.settings, user, TOKEN_TTL_S)
            self._tokens[user] = (token, time.monotonic())
        return token

    async def call(self, kind: str, method: str, path: str, user: str | None = None,
                   **kwargs: Any) -> httpx.Response:
        """One API request as ``user``; its latency is recorded under ``kind`` unless it failed outright."""
        if user is not None:
            kwargs["headers"] = {**kwargs.get("headers", {}), "Authorization": f"Bearer {self.token(user)}"}
        return await self._timed(kind, self.http.request(method, path, **kwargs), f"the API at {self.base}")

    async def upload(self, url: str, fields: dict[str, str], body: bytes, content_type: str) -> httpx.Response:
        """The pre-signed POST straight to S3 (the API never carries the bytes)."""
        return await self._timed("s3 upload", self.http.post(url, data=fields,
                                                             files={"file": ("photo", body, content_type)}),
                                 "S3")

    async def _timed(self, kind: str, request: Any, what: str) -> httpx.Response:
        began = time.monotonic()
        try:
            answer: httpx.Response = await request
        except httpx.TimeoutException:
            raise ServiceDownError(f"{what} timed out") from None
        except httpx.TransportError as exc:
            raise ServiceDownError(f"{what} is unreachable ({type(exc).__name__})") from None
        if answer.status_code >= 500:
            message = _error_message(answer)
            raise ServiceDownError(f"{what} answered {answer.status_code}" + (f": {message}" if message else ""))
        self.stats.request(kind, time.monotonic() - began)
        return answer

    async def close(self) -> None:
        await self.http.aclose()


def _error_message(answer: httpx.Response) -> str:
    try:
        return str(answer.json()["error"]["message"])[:120]
    except (ValueError, KeyError, TypeError):
        return answer.text[:120]
