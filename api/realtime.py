"""Live status push: one hub per API process fans status changes out to the user's WebSockets.

The processors write a user's badge, presence or notifications and then ping ``status:{user}`` (Redis pub/sub). Each API
process subscribes to the channels of the users connected to it (one pub/sub connection per process,
subscribing on a user's first local connection, unsubscribing on the last), so every device of a user receives
the change whichever process holds it. On a ping the hub re-reads the status once (one round trip, however
many local devices the user has) and offers it to each connection; a connection is sent a status only if it
differs from the last one it was offered (replays and duplicate pings push nothing). Each connection has a
bounded queue: a client too slow to drain it is dropped (closed with 1013 "try again later"; reconnecting
gets the current status at once), so one slow reader never grows the process's memory.

The hub also owns this process's part of presence (:class:`api.realtime_presence.PresenceTracker`): it
registers and unregisters connections and runs the heartbeat and reaper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from prometheus_client import Histogram

from api.realtime_presence import PresenceTracker
from api.realtime_status import Status, StatusReader
from api.status_copies import StatusCopies
from photostream.gc_tuning import FreezeAsItGrows
from photostream.settings import Settings
from producers.publisher import Publisher
from sinks import keys
from sinks.notification_lists import NotificationLists
from sinks.unread import applied_at

log = logging.getLogger(__name__)
#: Redis's clock (the ping's time) against this process's: the same host, or NTP's error on top
PUSH_DELAY = Histogram(
    "photostream_status_push_delay_seconds",
    "From a badge's write in Redis to its status offered to the user's connections on this API process",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)


class Connection:
    """One WebSocket's side of the hub: what to send it, and whether it was dropped. (Plain attributes and a
    callback rather than an ``asyncio.Event`` and a task waiting on it: a process holds 10,000 of these, and
    every object each one keeps is walked by every full collection.)"""

    def __init__(self, user_id: str, detail: bool, queue_max: int) -> None:
        self.user_id = user_id
        self.detail = detail
        self.id = uuid.uuid4().hex
        self.queue: asyncio.Queue[Status] = asyncio.Queue(maxsize=queue_max)
        self.dropped = False
        #: called once, when the connection is dropped (the WebSocket serving it then ends its stream)
        self.on_drop: Callable[[], None] | None = None
        self._last: Status | None = None

    def offer(self, status: Status) -> None:
        if self.detail is False:
            status = {k: v for k, v in status.items() if k != "sender_ids"}
        if status == self._last or self.dropped:
            return
        try:
            self.queue.put_nowait(status)
        except asyncio.QueueFull:
            self.dropped = True
            if self.on_drop is not None:
                self.on_drop()
            return
        self._last = status


class StatusHub:
    def __init__(self, settings: Settings, redis: Any, reader: StatusReader, publisher: Publisher) -> None:
        self._settings = settings
        self._redis = redis
        self.reader = reader
        self.presence = PresenceTracker(redis, publisher, settings.presence_ttl_s)
        self._local: dict[str, set[Connection]] = defaultdict(set)
        #: what held connections keep is frozen as they accumulate (see photostream.gc_tuning)
        self._freezer = FreezeAsItGrows()
        self._pubsub = redis.pubsub(ignore_subscribe_messages=True)
        #: one (un)subscribe at a time: redis-py's pub/sub connects lazily, and callers racing its first
        #: connection each opened one of their own, of which it kept the last (the others' users got no push)
        self._subscribing = asyncio.Lock()
        self._listening: asyncio.Task[None] | None = None
        self._beating: asyncio.Task[None] | None = None
        self._reaping: asyncio.Task[None] | None = None
        self._refreshing: dict[str, asyncio.Task[None]] = {}
        self._stale: set[str] = set()
        #: per user, when the oldest badge write not yet pushed here was made (the pings that carry one)
        self._written_at: dict[str, float] = {}

    def start(self) -> None:
        self._beating = asyncio.create_task(self._heartbeat(), name="status-heartbeat")
        self._reaping = asyncio.create_task(self._reaper(), name="presence-reaper")

    @property
    def connections(self) -> int:
        return sum(len(c) for c in self._local.values())

    async def join(self, user_id: str, detail: bool) -> Connection:
        """Register a connection; it is offered the current status at once."""
        connection = Connection(user_id, detail, self._settings.status_queue_max)
        first = not self._local[user_id]
        self._local[user_id].add(connection)
        try:
            if first:
                async with self._subscribing:
                    await self._pubsub.subscribe(keys.status_channel(self._settings.app_id, user_id))
                if self._listening is None:
                    self._listening = asyncio.create_task(self._listen(), name="status-listen")
            await self.presence.joined(user_id, connection.id)
            # online: this very connection says so, before the presence processor has applied it
            connection.offer(await self.reader.read(user_id, detail=True) | {"online_status": "online"})
            self._freezer.opened()
        except BaseException:
            # a join that failed half-way (Redis restarting) must not stay registered: the user's next
            # connection would not be their first, never subscribe, and get no push until a restart
            with contextlib.suppress(Exception):  # (the join's own error is the one to report)
                await self.leave(connection)
            raise
        return connection

    async def leave(self, connection: Connection) -> None:
        found = self._local.get(connection.user_id)
        if found is None or connection not in found:
            return
        found.discard(connection)
        if not found:
            del self._local[connection.user_id]
            self._written_at.pop(connection.user_id, None)
            with contextlib.suppress(Exception):  # the pub/sub connection may be gone; it resubscribes anew
                async with self._subscribing:
                    await self._pubsub.unsubscribe(keys.status_channel(self._settings.app_id, connection.user_id))
        await self.presence.left(connection.user_id, connection.id)

    async def close(self) -> None:
        for task in (self._listening, self._beating, self._reaping, *self._refreshing.values()):
            if task is not None:
                task.cancel()
        # every connection still held leaves at once, a round trip per page (one at a time, a process holding
        # thousands was killed before it was done, and the rest waited for another process's reaper)
        held = [(user, connection.id) for user, connections in self._local.items() for connection in connections]
        self._local.clear()
        with contextlib.suppress(Exception):
            await self.presence.left_many(held)
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("status pub/sub failed; reconnecting in %.1fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)  # redis-py resubscribes the channels when it reconnects
                backoff = min(backoff * 2, 5.0)
                continue
            if message is None or message.get("type") != "message":
                continue
            self._refresh(keys.status_channel_owner(message["channel"]), applied_at(message.get("data") or ""))

    def _refresh(self, user_id: str, written_at: float | None = None) -> None:
        """Re-read and offer; pings arriving while a read is in flight coalesce into one more read.
        ``written_at``: when the ping's badge write was made, if it says (timed to the push)."""
        if user_id not in self._local:
            return
        if written_at is not None:
            self._written_at[user_id] = min(written_at, self._written_at.get(user_id, written_at))
        if user_id in self._refreshing:
            self._stale.add(user_id)
            return
        self._refreshing[user_id] = asyncio.create_task(self._push(user_id))

    async def _push(self, user_id: str) -> None:
        try:
            while True:
                self._stale.discard(user_id)
                written_at = self._written_at.pop(user_id, None)
                # online whatever presence says: a connection here is the user online (a push raced with the
                # presence processor's online told the connected device itself "offline")
                status = await self.reader.read(user_id, detail=True) | {"online_status": "online"}
                for connection in list(self._local.get(user_id, ())):
                    connection.offer(status)
                if written_at is not None:
                    PUSH_DELAY.observe(max(0.0, time.time() - written_at))
                if user_id not in self._stale:
                    return
        except Exception:
            self._written_at.pop(user_id, None)  # (not pushed: no delay to time)
            log.warning("status push for %s failed", user_id, exc_info=True)
        finally:
            self._refreshing.pop(user_id, None)

    async def _heartbeat(self) -> None:
        """This process's connections refreshed every beat. Nothing else runs in this loop: a reap of a crashed
        process's thousands of users, run inline, delayed the beat past the TTL, and this process's own
        connected users were reaped too (offline, then online again a beat later)."""
        while True:
            await asyncio.sleep(self._settings.presence_heartbeat_s)  # a period, not a synchronisation
            try:
                await self.presence.heartbeat({u: [c.id for c in cs] for u, cs in self._local.items() if cs})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("presence heartbeat failed", exc_info=True)

    async def _reaper(self) -> None:
        """Users left online by processes that died, taken offline every beat (:meth:`PresenceTracker.reap`)."""
        while True:
            await asyncio.sleep(self._settings.presence_heartbeat_s)  # a period, not a synchronisation
            try:
                await self.presence.reap()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("presence reaping failed", exc_info=True)


def open_hub(settings: Settings, resources: Any) -> StatusHub:
    """The process's hub over the API's clients, started (call inside the running event loop)."""
    notifications = NotificationLists(resources.redis, settings.app_id, settings.notifications_cap)
    reads = resources.redis_reads or resources.redis  # status reads share a pipeline per turn (one per request)
    copies = StatusCopies(resources.redis, resources.session, settings.app_id, notifications)
    hub = StatusHub(settings, resources.redis, StatusReader(reads, resources.session, notifications, copies),
                    resources.publisher)
    hub.start()
    return hub
