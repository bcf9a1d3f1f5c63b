"""Which accounts are private: ``is_private`` of the public profile (projected from profile-updated v2).

:class:`AudienceReader` is the graph reader plus this one read, so the visibility check
(:func:`api.visibility.visible_posts`) gets everything it needs from one object. Privacy is read like profiles
are: the Redis profile hashes first (one pipeline; the profiles projector rewrites a hash on every change), then
only the misses — and hashes cached before the field existed — from ``users`` (one IN query per 100).
So a warm page costs one Redis round trip for privacy, and its follow check runs concurrently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

from cassandra.cluster import Session

from sinks import cache_aside, keys
from sinks.cassandra import execute
from sinks.graph import GraphReader
from sinks.partition_cache import FOLLOWING, PartitionCache

_IN_CHUNK = 100


class AudienceReader(GraphReader):
    def __init__(self, session: Session, redis: Any, reads: Any = None) -> None:
        """``reads``: where the follow copies' lookups go (the API's batching client, sinks.redis_batching)."""
        super().__init__(session, PartitionCache(redis, FOLLOWING, reads))
        self._redis = redis
        self._q_private = session.prepare("SELECT user_id, is_private FROM users WHERE user_id IN ?")

    async def private_among(self, user_ids: Iterable[str]) -> set[str]:
        """Which of ``user_ids`` are private accounts now (unknown users are not)."""
        wanted = sorted(set(user_ids))
        if not wanted:
            return set()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in wanted:
                    pipe.hmget(keys.user_profile(user_id), "is_private")
                cached = await pipe.execute()
        except cache_aside.REDIS_DOWN as exc:  # Redis down: every flag from Cassandra
            cache_aside.missed("privacy", exc)
            cached = [(None,)] * len(wanted)
        private = {u for u, (flag,) in zip(wanted, cached, strict=True) if flag == "1"}
        missing = [u for u, (flag,) in zip(wanted, cached, strict=True) if flag is None]
        results = await asyncio.gather(*(execute(self._session, self._q_private, (missing[i:i + _IN_CHUNK],))
                                         for i in range(0, len(missing), _IN_CHUNK)))
        return private | {row.user_id for rows in results for row in rows.current_rows if row.is_private}
