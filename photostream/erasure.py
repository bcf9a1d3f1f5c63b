"""What the project's own readers of the kept topics show of a deleted account's words: nothing.

The kept topics keep forever what each account published: captions (and the place a post was made), comments,
names and bios, a report's details, a post's hashtags. An account's deletion purges every view, but
`photostream replay` (the analysts' export) and `photostream tail` still showed those words. Until the personal
fields are encrypted per user with the key destroyed at deletion (crypto-shredding: the bytes on the broker
stay readable to anyone reading the topic with another client), these readers erase them on the way out: each
record whose author's deletion was accepted gets its personal fields blanked (:data:`PERSONAL`), and the
export counts them.

Whose deletion was accepted: the ``auth:closed`` markers in Redis (kept for good, one ``MGET`` per batch) while
Redis holds every revocation; when it does not (a flushed Redis, a namespace no API has served yet), the reader
first copies the durable revocations there, as the API and the worker do (:mod:`sinks.revocations`), since
asking Cassandra for every record's author cost ~50 µs a record (an ``IN`` over one partition per account),
five times what an export spends on a record. Cassandra answers only when that copy fails. When neither can
answer, the export stops (:class:`ErasureUnavailableError`) rather than write what it cannot check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from sinks import keys

log = logging.getLogger(__name__)

#: topic → (the field naming whose words the record carries, {personal field: what it becomes when erased}).
#: A blank of the field's own type (a string stays a string), so every export format keeps its columns.
PERSONAL: dict[str, tuple[str, dict[str, Any]]] = {
    "post-created": ("author_id", {"caption": "", "location": None}),
    "post-hashtag": ("author_id", {"hashtag": "", "post_tags": []}),
    "comment-added": ("user_id", {"text": ""}),
    "user-registered": ("user_id", {"username": "", "display_name": "", "bio": None}),
    "profile-updated": ("user_id", {"username": "", "display_name": "", "bio": None}),
    "content-reported": ("reporter_id", {"details": None}),
}
#: accounts per ``MGET`` / Cassandra ``IN`` query
CHUNK = 500
#: accounts whose answer is remembered for the rest of an export (then the memory starts again)
REMEMBERED_MAX = 200_000


class ErasureUnavailableError(RuntimeError):
    """Neither Redis nor Cassandra could say which accounts were deleted: nothing is exported unchecked."""


class ClosedAccounts:
    """Which accounts' deletion was accepted, for one reader (an export, a tail): answers remembered."""

    def __init__(self, redis: Any, connect: Any, reload: Any = None) -> None:
        """``redis``: a synchronous client; ``connect``: opens ``(cluster, session)`` to Cassandra on first need;
        ``reload``: copies the durable revocations into Redis given the session (tried once, when Redis lacks
        them)."""
        self._redis = redis
        self._connect = connect
        self._reload = reload
        self._cluster: Any = None
        self._session: Any = None
        self._known: dict[str, bool] = {}

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.shutdown()
        self._redis.close()

    def among(self, users: Iterable[str]) -> set[str]:
        users = list(users)
        asked = sorted({user for user in users if user and user not in self._known})
        if asked:
            if len(self._known) + len(asked) > REMEMBERED_MAX:
                self._known.clear()
            closed = self._in_redis(asked)
            if closed is None and self._reloaded():
                closed = self._in_redis(asked)
            if closed is None:
                closed = self._in_cassandra(asked)
            self._known.update((user, user in closed) for user in asked)
        return {user for user in users if self._known.get(user)}

    def _in_redis(self, users: list[str]) -> set[str] | None:
        """None when Redis does not hold every revocation (its reload's marker missing) or cannot be reached."""
        import redis.exceptions

        try:
            if not self._redis.exists(keys.revocations_loaded()):
                return None
            found: set[str] = set()
            for start in range(0, len(users), CHUNK):
                chunk = users[start:start + CHUNK]
                found.update(user for user, marker in zip(chunk, self._redis.mget(
                    [keys.closed_account(user) for user in chunk]), strict=True) if marker is not None)
            return found
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            return None

    def _reloaded(self) -> bool:
        """Copy the durable revocations into Redis (once per reader); whether it worked."""
        reload, self._reload = self._reload, None
        if reload is None:
            return False
        try:
            reload(self._opened())
        except Exception as exc:  # (Cassandra or Redis out of reach: Cassandra is asked directly, or fails loudly)
            log.warning("could not copy the access revocations into Redis (%s: %s); asking Cassandra",
                        type(exc).__name__, str(exc)[:200])
            return False
        return True

    def _opened(self) -> Any:
        if self._session is None:
            self._cluster, self._session = self._connect()
        return self._session

    def _in_cassandra(self, users: list[str]) -> set[str]:
        from cassandra.query import ValueSequence

        from sinks.revocations import CLOSED_ACCOUNTS_CQL

        try:
            session = self._opened()
            found: set[str] = set()
            for start in range(0, len(users), CHUNK):
                rows = session.execute(CLOSED_ACCOUNTS_CQL, (ValueSequence(users[start:start + CHUNK]),))
                found.update(row.id for row in rows)
            return found
        except Exception as exc:  # (the driver's NoHostAvailable, OperationTimedOut, ...)
            raise ErasureUnavailableError(
                f"cannot tell which accounts were deleted (Redis without every revocation, Cassandra: "
                f"{type(exc).__name__}: {str(exc)[:200]}); nothing exported unchecked") from None


class Eraser:
    """Blanks the personal fields of deleted accounts' records of one topic (see the module docstring)."""

    def __init__(self, topic: str, closed: ClosedAccounts) -> None:
        self._personal = PERSONAL.get(topic)
        self._closed = closed

    @property
    def needed(self) -> bool:
        """Whether the topic carries anyone's words at all (the others are passed through untouched)."""
        return self._personal is not None

    def erase(self, records: list[dict[str, Any]]) -> int:
        """Blank, in place, the personal fields of ``records`` written by deleted accounts; how many."""
        if self._personal is None or not records:
            return 0
        person, blanks = self._personal
        closed = self._closed.among(str(r.get(person) or "") for r in records)
        erased = 0
        for record in records:
            if record.get(person) in closed:
                for field, blank in blanks.items():
                    record[field] = list(blank) if isinstance(blank, list) else blank
                erased += 1
        return erased


def closed_accounts(settings: Any) -> ClosedAccounts:
    """A reader's :class:`ClosedAccounts` on the deployment's Redis (and Cassandra, opened only if needed)."""
    from sinks.cassandra import connect
    from sinks.redis_client import sync_client

    def reload(session: Any) -> None:
        asyncio.run(_reload(settings, session))

    return ClosedAccounts(sync_client(settings), lambda: connect(settings), reload)


async def _reload(settings: Any, session: Any) -> None:
    from sinks.redis_client import async_client
    from sinks.revocations import RevocationLedger

    redis = async_client(settings)
    try:
        copied = await RevocationLedger(session, redis).reload()
        log.info("copied %d access revocations from Cassandra into Redis", copied)
    finally:
        await redis.aclose()
