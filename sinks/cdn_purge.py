"""Telling a CDN to drop cached URLs: an HTTP ``PURGE`` per URL (Varnish, Fastly style) or one webhook ``POST``
with ``{"paths": [...]}``; nothing at all when no endpoint is configured.

A purge is a side effect at the edge: the caller decides what to purge and when (after the new state is
durable, so a CDN refetching at once gets the new answer). :class:`PurgeRejectedError` (a 4xx: a misconfigured
endpoint that a retry will not fix) and :class:`PurgeUnavailableError` (connection failure, timeout, 5xx) let
the caller choose between giving up and retrying.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

import httpx
from prometheus_client import Counter

from photostream.domain.images import WIDTHS

log = logging.getLogger(__name__)

#: where the API serves avatars (``api.routes.avatars``)
AVATAR_PATH = "/api/v1/avatar/{hash}"
PURGE_ATTEMPTS = 3
PurgeOutcome = Literal["purged", "unconfigured", "failed"]
PURGES = Counter("photostream_avatar_purges_total", "CDN purges for changed avatars", ["outcome"])


def avatar_paths(email_hash: str) -> list[str]:
    """Every URL a CDN may hold for the avatar: without ``w`` and at each width."""
    path = AVATAR_PATH.format(hash=email_hash)
    return [path] + [f"{path}?w={w}" for w in WIDTHS]


class PurgeUnavailableError(RuntimeError):
    """The endpoint could not be reached or failed (5xx): worth retrying."""


class PurgeRejectedError(RuntimeError):
    """The endpoint refused the purge (4xx): retrying will not help."""


class CdnPurger:
    def __init__(self, endpoint: str | None, method: Literal["PURGE", "POST"], timeout_s: float) -> None:
        self._endpoint = endpoint.rstrip("/") if endpoint else None
        self._method = method
        self._client = httpx.AsyncClient(timeout=timeout_s) if endpoint else None

    @property
    def configured(self) -> bool:
        return self._client is not None

    async def purge(self, paths: list[str]) -> None:
        """Purge ``paths`` (URL paths with their query, as the API serves them)."""
        if self._client is None or self._endpoint is None or not paths:
            return
        try:
            if self._method == "POST":
                self._check(await self._client.post(self._endpoint, json={"paths": paths}))
            else:
                for path in paths:
                    self._check(await self._client.request("PURGE", self._endpoint + path))
        except httpx.HTTPError as exc:
            raise PurgeUnavailableError(f"purge endpoint unreachable: {exc!r}") from exc

    @staticmethod
    def _check(answer: httpx.Response) -> None:
        if answer.status_code >= 500:
            raise PurgeUnavailableError(f"purge endpoint answered {answer.status_code}")
        if answer.status_code >= 400 and answer.status_code != 404:  # 404: nothing cached under that URL
            raise PurgeRejectedError(f"purge endpoint answered {answer.status_code}")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class AvatarPurge:
    """An avatar's every URL purged: a few retries of an endpoint that cannot be reached, then given up (logged
    and counted: the CDN's max-age bounds how long it serves the old photo, and one broken CDN must not stall the
    caller); a refusal (4xx) is given up at once. Used on an avatar change and on an account's deletion."""

    def __init__(self, purger: CdnPurger, retry_delay_s: float = 0.5) -> None:
        self._purger, self._retry_delay_s = purger, retry_delay_s

    async def __call__(self, email_hash: str) -> PurgeOutcome:
        outcome = await self._attempts(email_hash)
        PURGES.labels(outcome).inc()
        return outcome

    async def _attempts(self, email_hash: str) -> PurgeOutcome:
        if not self._purger.configured:
            return "unconfigured"
        for attempt in range(1, PURGE_ATTEMPTS + 1):
            try:
                await self._purger.purge(avatar_paths(email_hash))
                return "purged"
            except PurgeRejectedError as exc:
                log.warning("avatars: purge refused, given up: %s", exc)
                return "failed"
            except PurgeUnavailableError as exc:
                if attempt == PURGE_ATTEMPTS:
                    log.warning("avatars: purge failed %d times, given up: %s", attempt, exc)
                    return "failed"
                await asyncio.sleep(self._retry_delay_s * attempt)
        return "failed"
