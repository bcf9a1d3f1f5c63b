"""Revoked access tokens: durable in Cassandra, checked on every request in Redis.

A logout (the token's id), an account deletion (every token of the user) or the end of a user's sessions (every
token of the user issued before that moment: a password change, a refresh token used twice) is written to
``access_revocations`` first, with the TTL of the longest-lived token it refuses (none for an account
deletion: that marker is also the account's tombstone, see :func:`closed_among`), then to Redis, where the
per-request check is one pipelined round trip. Redis alone was not enough: a flushed or rebuilt Redis would
have let logged-out tokens back in for up to an hour. So the Redis side carries a marker that only the reload
writes, after it copied every durable revocation: while the marker is missing (a lost Redis, or a first start),
the check asks Cassandra, and one reload per process runs in the background.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal, Protocol

from cassandra.cluster import Session
from cassandra.query import ValueSequence

from sinks import keys
from sinks.cache_aside import REDIS_DOWN
from sinks.cassandra import execute, key_chunks, pages
from sinks.redis_bulk import exist_many

log = logging.getLogger(__name__)

Kind = Literal["token", "account", "before"]
#: the answers :meth:`RevocationLedger.queue_check` adds to a pipeline
CHECK_ANSWERS = 4
_KEYS = {"token": keys.revoked_access, "account": keys.closed_account, "before": keys.sessions_ended}


def _key(kind: str, revoked_id: str) -> str:
    return _KEYS[kind](revoked_id)


#: how long a closed-account check with the reload's marker missing waits for the reload to finish before it
#: asks Cassandra instead: a reload of a keyspace with few revocations takes milliseconds, where Cassandra
#: answered a 10,000-like batch's accounts in ~270 ms (the notifications benchmark's first batch, on a Redis
#: database of its own); a long reload (many revocations) costs each check at most this
RELOAD_WAIT_S = 0.2


async def closed_among(redis: Any, session: Session, users: Iterable[str]) -> set[str]:
    """The users whose account deletion was accepted: their ``auth:closed`` marker, set before the deletion's
    202 and kept for good, the account's tombstone (a marker that expired with the account's last token let a
    replay of ``follow-changed`` from the start write its old pairs back). While Redis does not hold every
    revocation (the reload's marker is missing: a flushed or restarted Redis, a first start), the check starts
    the reload (:func:`_reload_soon`) and waits for it up to :data:`RELOAD_WAIT_S`; past that, or while Redis
    is unreachable, Cassandra answers (a message from a deleted account delivered after a flush was put back
    into a badge for good)."""
    people = sorted(set(users))
    if not people:
        return set()
    try:
        found = await _closed_in_redis(redis, people)
        if found is None and await _reloaded_within(session, redis, RELOAD_WAIT_S):
            found = await _closed_in_redis(redis, people)
    except REDIS_DOWN:
        found = None
    return found if found is not None else await closed_durably(session, people)


async def _closed_in_redis(redis: Any, people: list[str]) -> set[str] | None:
    """Which of ``people`` Redis holds a closed account's marker for; None while it does not hold every
    revocation (the reload's marker missing)."""
    *found, loaded = await exist_many(redis, [*(keys.closed_account(user) for user in people),
                                              keys.revocations_loaded()])
    return {user for user, exists in zip(people, found, strict=True) if exists} if loaded else None


#: the reload a closed-account check started, per event loop (a finished or failed one is started again)
_reloads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = weakref.WeakKeyDictionary()


def _reload_soon(session: Session, redis: Any) -> asyncio.Task[None]:
    """Copy the durable revocations into Redis in the background, once at a time per process (the task). Why
    here too: only an API request used to start the reload, so a worker whose API was idle after a Redis flush
    asked Cassandra for every batch's accounts (150-290 ms of a 3,000-record unread batch, where Redis answers
    in 5 ms) until someone made a request."""
    loop = asyncio.get_running_loop()
    running = _reloads.get(loop)
    if running is None or running.done():
        running = _reloads[loop] = loop.create_task(_reload_logged(lambda: RevocationLedger(session, redis).reload()))
    return running


async def _reloaded_within(session: Session, redis: Any, wait_s: float) -> bool:
    """Start the reload (or join the one under way) and wait up to ``wait_s`` for it: True if it ended (a
    failed one ends too, and leaves the marker missing). The reload goes on past the wait: other checks join it."""
    done, _ = await asyncio.wait({_reload_soon(session, redis)}, timeout=wait_s)
    return bool(done)


async def _reload_logged(reload: Callable[[], Awaitable[int]]) -> None:
    try:
        copied = await reload()
        log.info("copied %d access revocations from Cassandra into Redis", copied)
    except Exception:  # a background repair: the next check that misses the marker tries again
        log.exception("copying the access revocations into Redis failed")


#: which of some accounts (``%s``: a ``ValueSequence`` of ids) had their deletion accepted, durably
CLOSED_ACCOUNTS_CQL = "SELECT id FROM access_revocations WHERE kind = 'account' AND id IN %s"


async def closed_durably(session: Session, users: list[str]) -> set[str]:
    """:func:`closed_among` asked of Cassandra alone (one IN query per chunk of users; a rare path)."""
    results = await asyncio.gather(*(
        execute(session, CLOSED_ACCOUNTS_CQL, (ValueSequence(chunk),)) for chunk in key_chunks(users)))
    return {row.id for result in results for row in result.current_rows}


class Checked(Protocol):
    """What the check needs of a token's claims (:class:`api.auth.AccessClaims`)."""

    @property
    def jti(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def issued_ms(self) -> int: ...


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
        self._q = session.prepare("SELECT revoked_at FROM access_revocations WHERE kind = ? AND id = ?")
        self._q_all = session.prepare("SELECT kind, id, revoked_at, TTL(revoked_at) AS ttl FROM access_revocations")
        self._reloading: asyncio.Task[None] | None = None

    async def revoke(self, kind: Kind, revoked_id: str, ttl_s: int | None) -> int:
        """Refuse a token id (``token``), every token of a user (``account``) or every token of a user issued
        until now (``before``) for ``ttl_s`` seconds, or for good (``None``: a closed account's marker, see
        :func:`closed_among`); returns when (epoch ms)."""
        at = int(time.time() * 1000)
        await execute(self._session, self._w, (kind, revoked_id, at, ttl_s or 0))  # (TTL 0: no expiry)
        await self._redis.set(_key(kind, revoked_id), at, ex=ttl_s)
        return at

    async def refused(self, claims: Checked) -> bool:
        """Whether a token was revoked. A Redis outage propagates (the caller decides)."""
        async with self._reads.pipeline(transaction=False) as pipe:
            self.queue_check(pipe, claims)
            answers = await pipe.execute()
        return await self.verdict(answers, claims)

    def queue_check(self, pipe: Any, claims: Checked) -> None:
        """Queue the check's :data:`CHECK_ANSWERS` commands on ``pipe``, for :meth:`verdict` to read: a route
        that reads Redis anyway checks its token in the same round trip (:func:`api.auth.checked_reads`)."""
        pipe.exists(keys.revoked_access(claims.jti))
        pipe.exists(keys.closed_account(claims.user_id))
        pipe.get(keys.sessions_ended(claims.user_id))
        pipe.exists(keys.revocations_loaded())

    async def verdict(self, answers: list[Any], claims: Checked) -> bool:
        """Whether the token is revoked, from the answers to :meth:`queue_check` (in order)."""
        token, account, ended, loaded = answers
        if loaded:
            return bool(token or account) or _issued_before(claims, ended)
        self._reload_soon()  # Redis does not hold them all: Cassandra answers meanwhile
        return await self.refused_durably(claims)

    async def refused_durably(self, claims: Checked) -> bool:
        """:meth:`refused` asked of Cassandra alone (Redis lost its copy, or is unreachable)."""
        token, account, ended = await asyncio.gather(execute(self._session, self._q, ("token", claims.jti)),
                                                     execute(self._session, self._q, ("account", claims.user_id)),
                                                     execute(self._session, self._q, ("before", claims.user_id)))
        ended_row = ended.one()
        return token.one() is not None or account.one() is not None or (
            ended_row is not None and _issued_before(claims, ended_row.revoked_at))

    def _reload_soon(self) -> None:
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.create_task(_reload_logged(self.reload))

    async def reload(self) -> int:
        """Copy every live durable revocation into Redis (with its remaining lifetime, none for a closed
        account's), then set the marker.
        A revocation made meanwhile reaches Redis by its own write, so none is missed."""
        copied = 0
        async for rows in pages(self._session, self._q_all, (), 5000):
            async with self._redis.pipeline(transaction=False) as pipe:
                for row in rows:
                    if row.kind in _KEYS and (row.ttl or row.kind == "account"):  # (an account's: for good)
                        pipe.set(_key(row.kind, row.id), row.revoked_at or 1, ex=int(row.ttl) if row.ttl else None)
                        copied += 1
                await pipe.execute()
        await self._redis.set(keys.revocations_loaded(), 1)
        return copied


def _issued_before(claims: Checked, ended_at: Any) -> bool:
    """Whether the token was issued before its user's sessions ended, or in that millisecond (``ended_at``: epoch
    ms, or None): a token minted for the new session is minted after it (``api.auth.mint_access_token``)."""
    return ended_at is not None and claims.issued_ms <= int(ended_at)
