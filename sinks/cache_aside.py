"""Read-through caches that outlive Redis: a cache read that cannot reach Redis is a miss, a fill that cannot
reach it is skipped, so a read served from Redis-or-Cassandra falls back to Cassandra alone (slower, correct).

Used by the reads the home feed hydrates with (posts, profiles, engagement counts), which issue 8 asks to keep
answering while Redis is down. Writers never use this: a projection that cannot reach Redis must fail and retry.
"""

from __future__ import annotations

import logging

import redis.exceptions

log = logging.getLogger(__name__)

#: Redis unreachable (refused, reset, timed out), as opposed to a bad command
REDIS_DOWN: tuple[type[BaseException], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def missed(what: str, exc: BaseException) -> None:
    """Note one cache step skipped because Redis is down (debug level: the API counts the outage once, in
    ``api.degraded``; a line per read would flood the log)."""
    log.debug("%s cache skipped: Redis unreachable (%s)", what, exc)
