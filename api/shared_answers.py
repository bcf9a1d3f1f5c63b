"""Answers shared by every reader for a short while, computed once even when many ask at the same moment.

A plain TTL cache lets every request that arrives while the first one is still reading the stores start the
same reads (a stampede: under load, each cache expiry became hundreds of identical reads). Here the cache
holds the *pending* computation: later callers await the first caller's task. A failed computation is not
kept, so the next caller tries again rather than reading a cached outage.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from cachetools import TTLCache

T = TypeVar("T")


class SharedAnswers(Generic[T]):
    """``get(key, compute)``: the answer computed within the last ``ttl_s`` for ``key``, or one computation of
    it shared by everyone who asks before it is done."""

    def __init__(self, ttl_s: float, maxsize: int = 10_000) -> None:
        self._answers: TTLCache[str, asyncio.Future[T]] = TTLCache(maxsize=maxsize, ttl=ttl_s)

    async def get(self, key: str, compute: Callable[[], Awaitable[T]]) -> T:
        pending = self._answers.get(key)
        if pending is None:
            pending = asyncio.ensure_future(compute())
            self._answers[key] = pending
            pending.add_done_callback(lambda done: self._forget_failure(key, done))
        # shield: one caller giving up (a client disconnect) must not cancel the others' answer
        return await asyncio.shield(pending)

    def _forget_failure(self, key: str, done: asyncio.Future[T]) -> None:
        if (done.cancelled() or done.exception() is not None) and self._answers.get(key) is done:
            del self._answers[key]

    def clear(self) -> None:
        self._answers.clear()
