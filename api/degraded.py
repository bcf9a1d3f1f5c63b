"""What the API does without Redis, where it chooses to go on rather than answer 503.

Redis holds caches and two edge checks (the read limiter's buckets, the token revocation list). Most routes
need it and answer 503 while it is down; a few answers are worth giving anyway, from Cassandra. Each such
decision goes through :func:`note`: a counter by what was skipped (``photostream_redis_degraded_total``), and a
warning logged at most once a minute per kind, so an outage is visible without a log line per request.
"""

from __future__ import annotations

import logging
import time

import redis.exceptions
from prometheus_client import Counter

log = logging.getLogger(__name__)

#: the failures that mean Redis is unreachable (as opposed to a bad command)
REDIS_OUTAGES: tuple[type[BaseException], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
DEGRADED = Counter("photostream_redis_degraded_total", "requests served without a Redis step, Redis unreachable",
                   ["what"])
LOG_EVERY_S = 60.0
_last_logged: dict[str, float] = {}


def note(what: str, exc: BaseException) -> None:
    """Count one request that went on without ``what`` (``read_limit``, ``revocation_check``)."""
    DEGRADED.labels(what).inc()
    now = time.monotonic()
    if now - _last_logged.get(what, -LOG_EVERY_S) >= LOG_EVERY_S:
        _last_logged[what] = now
        log.warning("Redis unreachable: serving without the %s (%s: %s); counted in "
                    "photostream_redis_degraded_total", what, type(exc).__name__, exc)
