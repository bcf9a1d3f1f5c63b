"""Revoked access tokens: durable in Cassandra, checked on every request in Redis.

A logout (the token's id) or an account deletion (every token of the user) is written to
``access_revocations`` first, with the TTL of the longest-lived token it refuses, then to Redis, where the
per-request check is one pipelined round trip. Redis alone was not enough: a flushed or rebuilt Redis would
have let logged-out tokens back in for up to an hour. So the Redis side carries a marker that only the reload
writes, after it copied every durable revocation: while the marker is missing (a lost Redis, or a first start),
the check asks Cassandra, and one reload per process runs in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Literal

from cassandra.cluster import Session

from sinks import keys
from sinks.cassandra import execute, pages

log = logging.getLogger(__name__)

Kind = Literal["token", "account"]
#: the answers :meth:`RevocationLedger.queue_check` adds to a pipeline
CHECK_ANSWERS = 3


def _key(kind: Kind, revoked_id: str) -> str:
    return keys.revoked_access(revoked_id) if kind == "token" else keys.closed_account(revoked_id)


class RevocationLedger:
    """Prepared once per API process (``ApiResources.revocations``)."""

    def __init__(self, session: Session, redis: Any, reads: Any = None) -> None:
        self._session = session
        self._redis = redis
        #: where the per-request check goes: the API's batching client (requests served together share one
        #: pipeline, :mod:`sinks.redis_batching`); writes and reloads use ``redis``
        self._reads = reads if reads is not None else redis
        self._w = session.prepare("INSERT INTO access_revocations (kind, id, revoked_at) VALUES (?, ?, ?) "
                                  "USING TTL ?")
        self._q = session.prepare("SELECT id FROM access_revocations WHERE kind = ? AND id = ?")
        self._q_all = session.prepare("SELECT kind, id, TTL(revoked_at) AS ttl FROM access_revocations")
        self._reloading: asyncio.Task[None] | None = None

    async def revoke(self, kind: Kind, revoked_id: str, ttl_s: int) -> None:
        """Refuse a token id (``token``) or every token of a user (``account``) for ``ttl_s`` seconds."""
        await execute(self._session, self._w, (kind, revoked_id, int(time.time() * 1000), ttl_s))
        await self._redis.set(_key(kind, revoked_id), 1, ex=ttl_s)

    async def refused(self, jti: str, user_id: str) -> bool:
        """Whether a token (its id and user) was revoked. A Redis outage propagates (the caller decides)."""
        async with self._reads.pipeline(transaction=False) as pipe:
            self.queue_check(pipe, jti, user_id)
            answers = await pipe.execute()
        return await self.verdict(answers, jti, user_id)

    def queue_check(self, pipe: Any, jti: str, user_id: str) -> None:
        """Queue the check's three commands on ``pipe``, for :meth:`verdict` to read: a route that reads Redis
        anyway checks its token in the same round trip (:func:`api.auth.checked_reads`)."""
        pipe.exists(keys.revoked_access(jti))
        pipe.exists(keys.closed_account(user_id))
        pipe.exists(keys.revocations_loaded())

    async def verdict(self, answers: list[Any], jti: str, user_id: str) -> bool:
        """Whether the token is revoked, from the answers to :meth:`queue_check` (in order)."""
        token, account, loaded = answers
        if loaded:
            return bool(token or account)
        self._reload_soon()  # Redis does not hold them all: Cassandra answers meanwhile
        return await self.refused_durably(jti, user_id)

    async def refused_durably(self, jti: str, user_id: str) -> bool:
        """:meth:`refused` asked of Cassandra alone (Redis lost its copy, or is unreachable)."""
        found = await asyncio.gather(execute(self._session, self._q, ("token", jti)),
                                     execute(self._session, self._q, ("account", user_id)))
        return any(result.one() is not None for result in found)

    def _reload_soon(self) -> None:
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.create_task(self._reload_logged())

    async def _reload_logged(self) -> None:
        try:
            copied = await self.reload()
            log.info("copied %d access revocations from Cassandra into Redis", copied)
        except Exception:  # a background repair: the next check tries again
            log.exception("copying the access revocations into Redis failed")

    async def reload(self) -> int:
        """Copy every live durable revocation into Redis (with its remaining lifetime), then set the marker.
        A revocation made meanwhile reaches Redis by its own write, so none is missed."""
        copied = 0
        async for rows in pages(self._session, self._q_all, (), 5000):
            async with self._redis.pipeline(transaction=False) as pipe:
                for row in rows:
                    if row.ttl:
                        pipe.set(_key(row.kind, row.id), 1, ex=int(row.ttl))
                        copied += 1
                await pipe.execute()
        await self._redis.set(keys.revocations_loaded(), 1)
        return copied
