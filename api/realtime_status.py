"""The status a user sees: ``{newly_unread_count, online_status, last_seen, unread_notifications}`` (+
``sender_ids`` in detail).

Read in one Redis round trip (a pipeline over the user's own keys, which share a hash tag; the API's own read
also checks the caller's token in it): the unread set's
size (or members), the presence hash and the unread notifications (a ZCOUNT above the read mark). The API passes
its batching client (:mod:`sinks.redis_batching`), so the statuses read in one event-loop turn share that round
trip. When Redis is
unreachable the same answer is derived from Cassandra (``unread_pairs``, ``presence``, the newest notifications):
slower, never a failure. ``last_seen`` is epoch milliseconds, or None for a user never seen; ``online_status``
is ``offline`` for them.
"""

from __future__ import annotations

from typing import Any

from cassandra.cluster import Session

from api.auth import AccessClaims, InvalidTokenError, checked_reads
from api.errors import STORE_OUTAGES
from api.status_copies import StatusCopies
from sinks import keys, redis_scripts
from sinks.notification_lists import NotificationLists, unread_of
from sinks.notifications import NotificationStore
from sinks.presence import PresenceRows
from sinks.revocations import RevocationLedger
from sinks.unread import UnreadPairs

Status = dict[str, Any]
#: the notifications counted when no list settings are given (the settings' default)
DEFAULT_CAP = 200


def status_of(senders: list[str] | None, count: int, online: str | None, last_seen: int | None,
              unread_notifications: int = 0) -> Status:
    status: Status = {"newly_unread_count": count, "online_status": online or "offline", "last_seen": last_seen,
                      "unread_notifications": unread_notifications}
    if senders is not None:
        status["sender_ids"] = sorted(senders)
    return status


class StatusReader:
    """``copies``: where a read that finds the unread set or the notification list not whole asks for a copy
    from Cassandra (:mod:`api.status_copies`); without it, such a read only answers what Redis holds."""

    def __init__(self, redis: Any, session: Session, notifications: NotificationLists | None = None,
                 copies: StatusCopies | None = None) -> None:
        self._redis = redis
        self._copies = copies
        self._pairs = UnreadPairs(session)
        self._presence = PresenceRows(session)
        self._notifications = notifications or NotificationLists(redis, "", DEFAULT_CAP)
        self._notification_rows = NotificationStore(session)

    async def read(self, user_id: str, detail: bool = False) -> Status:
        try:
            return await self.from_redis(user_id, detail)
        except STORE_OUTAGES:
            return await self.from_cassandra(user_id, detail)

    async def read_own(self, claims: AccessClaims, revocations: RevocationLedger, detail: bool = False) -> Status:
        """The token's user's status, the token's revocation checked in the same round trip (one, not two, for
        the API's most frequent read). With Redis unreachable, both come from Cassandra: the durable ledger
        refuses a logged-out token even then. Raises :class:`InvalidTokenError` for a revoked token."""
        try:
            answers = await checked_reads(revocations, self._redis, claims,
                                          lambda pipe: self._queue(pipe, claims.user_id, detail))
        except STORE_OUTAGES:
            if await revocations.refused_durably(claims):
                raise InvalidTokenError("the token was revoked") from None
            return await self.from_cassandra(claims.user_id, detail)
        return self._answer(claims.user_id, answers, detail)

    async def from_redis(self, user_id: str, detail: bool) -> Status:
        async with self._redis.pipeline(transaction=False) as pipe:
            self._queue(pipe, user_id, detail)
            return self._answer(user_id, await redis_scripts.execute(pipe), detail)

    def _queue(self, pipe: Any, user_id: str, detail: bool) -> None:
        if detail:
            pipe.smembers(keys.unread_senders(user_id))
        else:
            pipe.scard(keys.unread_senders(user_id))
        pipe.exists(keys.unread_whole(user_id))
        pipe.hmget(keys.presence(user_id), "status", "last_seen")
        self._notifications.unread_in(pipe, user_id)

    def _answer(self, user_id: str, answers: list[Any], detail: bool) -> Status:
        """Redis's answer, even where Redis does not hold the unread set or the notification list whole: the
        status is the API's most frequent read, and one Redis round trip. (Counting such a list in Cassandra made
        the status's p99 1 s at half its saturation rate.) What is not whole is copied in the background, and
        the copy pings the user's devices with the restored badge."""
        unread, unread_whole, (online, last_seen), raw_notifications = answers
        notifications = unread_of(raw_notifications)
        if self._copies is not None and not (unread_whole and notifications.whole):
            self._copies.need(user_id, bool(unread_whole), notifications.whole)
        senders = sorted(unread) if detail else None
        count = len(unread) if detail else int(unread)
        return status_of(senders, count, online, int(last_seen) if last_seen else None, notifications.in_redis)

    async def from_cassandra(self, user_id: str, detail: bool) -> Status:
        senders = await self._pairs.unread_of(user_id)
        presence = await self._presence.get(user_id)
        newest = await self._notification_rows.page(user_id, None, self._notifications.cap)
        read_at = await self._notification_rows.read_at(user_id)
        return status_of(senders if detail else None, len(senders), presence.status if presence else None,
                         presence.last_seen if presence else None, sum(n.updated_at > read_at for n in newest))
