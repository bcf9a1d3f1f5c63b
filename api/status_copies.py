"""Background copies of what a status read found Redis not to hold whole: a user's unread-sender set and their
notification list, from Cassandra, after a Redis loss (or before anyone read them).

Why in the background: the status is the API's most frequent read, one Redis round trip. Counting a list in
Cassandra in that read made its p99 1 s at half its saturation rate, and hung while Cassandra was paused. So the
read answers what Redis holds, and asks for a copy; the copy (fenced by the set's or list's version, so it never
erases a projection that lands meanwhile) pings the user's status channel, and their devices get the restored
badge over the WebSocket. Before this, an unread set lost with Redis counted only the senders projected since,
until someone ran `photostream rebuild unread`.

One copy per user and kind at a time in a process, a few at once (a flushed Redis must not send every online
user's read to Cassandra together), and one that failed, or was refused every time, is not asked again for
``retry_after_s``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from cachetools import TTLCache
from cassandra.cluster import Session

from sinks.notification_lists import NotificationLists, copy_unless_whole
from sinks.notifications import NotificationStore
from sinks.unread import UnreadPairs, UnreadSets

log = logging.getLogger(__name__)

#: copies refused because a projection landed meanwhile are read again this many times
ATTEMPTS = 3


class StatusCopies:
    def __init__(self, redis: Any, session: Session, app_id: str, lists: NotificationLists, concurrency: int = 4,
                 retry_after_s: float = 10.0) -> None:
        self._sets, self._pairs = UnreadSets(redis, app_id), UnreadPairs(session)
        self._lists, self._store = lists, NotificationStore(session)
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._asked: TTLCache[tuple[str, str], bool] = TTLCache(maxsize=100_000, ttl=retry_after_s)
        self._gate = asyncio.Semaphore(concurrency)

    def need(self, user_id: str, unread_whole: bool, notifications_whole: bool) -> None:
        """Copy what the user's status read found not whole (a no-op for what is being copied, or was asked
        for within ``retry_after_s``)."""
        if not unread_whole:
            self._start(("unread", user_id), lambda: self._sets.copy(self._pairs, user_id))
        if not notifications_whole:
            self._start(("notifications", user_id), lambda: self._copy_notifications(user_id))

    async def idle(self) -> None:
        """Until every copy under way ended (tests, shutdown)."""
        while self._running:
            await asyncio.gather(*list(self._running.values()), return_exceptions=True)

    def _start(self, key: tuple[str, str], copy: Callable[[], Awaitable[bool]]) -> None:
        if key in self._running or key in self._asked:
            return
        self._asked[key] = True
        task = asyncio.create_task(self._run(key, copy))
        self._running[key] = task
        task.add_done_callback(lambda _: self._running.pop(key, None))

    async def _run(self, key: tuple[str, str], copy: Callable[[], Awaitable[bool]]) -> None:
        try:
            async with self._gate:
                for _ in range(ATTEMPTS):
                    if await copy():
                        self._asked.pop(key, None)  # (a later loss is copied at once, not after the pause)
                        return
        except Exception as exc:  # a background repair: a status read after retry_after_s asks again
            log.warning("copying the %s of %s from Cassandra failed: %s", key[0], key[1], exc)

    async def _copy_notifications(self, user_id: str) -> bool:
        copy = await copy_unless_whole(self._lists, self._store, user_id)
        return copy is None or copy.stored
