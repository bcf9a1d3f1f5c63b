"""Staying under the API's limits, client-side, so the simulator measures the system and not its 429s.

The API limits writes per user (``RATE_LIMIT_POSTS_*`` for posts, ``RATE_LIMIT_UPLOADS_*`` for uploads,
``RATE_LIMIT_WRITES_*`` for the rest: :mod:`api.ratelimit`) and reads per client address
(``RATE_LIMIT_READS_*``: every read of the simulator comes from one address). :class:`UserBudgets` mirrors the
per-user buckets, so an action goes to a user with a token left; :class:`ReadPacer` keeps the simulator's reads
at a fraction of the per-address rate, waiting rather than tripping the limit. The clock is injectable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from photostream.settings import Settings
from photostream.simulate.mix import Kind


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass(frozen=True)
class Rate:
    per_minute: float
    burst: int


def write_limits(settings: Settings) -> dict[str, Rate]:
    """The API's per-user buckets an action spends from (an upload and a post for a post)."""
    return {"post": Rate(settings.rate_limit_posts_per_minute, settings.rate_limit_posts_burst),
            "upload": Rate(settings.rate_limit_uploads_per_minute, settings.rate_limit_uploads_burst),
            "write": Rate(settings.rate_limit_writes_per_minute, settings.rate_limit_writes_burst)}


#: which buckets an action spends from (messages and feed reads spend none: SDK events, reads)
SPENDS: dict[Kind, tuple[str, ...]] = {"post": ("post", "upload"), "like": ("write",), "comment": ("write",),
                                       "follow": ("write",), "message": (), "feed": ()}


class UserBudgets:
    """Token buckets per (user, bucket), refilled like the API's; kept at 80% of its rate for clock skew."""

    def __init__(self, limits: dict[str, Rate], clock: Callable[[], float] = time.monotonic,
                 share: float = 0.8) -> None:
        self.limits, self.clock, self.share = limits, clock, share
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def take(self, user: str, kind: Kind) -> bool:
        """Spend one token of every bucket ``kind`` needs, or none (and answer False) if one is empty."""
        names = SPENDS[kind]
        now = self.clock()
        buckets = [self._refilled(user, name, now) for name in names]
        if any(b.tokens < 1 for b in buckets):
            return False
        for bucket in buckets:
            bucket.tokens -= 1
        return True

    def back_off(self, user: str, kind: Kind) -> None:
        """The API answered 429 anyway (someone else acted as this user): empty the user's buckets."""
        for name in SPENDS[kind]:
            self._refilled(user, name, self.clock()).tokens = 0

    def _refilled(self, user: str, name: str, now: float) -> _Bucket:
        limit = self.limits[name]
        bucket = self._buckets.setdefault((user, name), _Bucket(float(limit.burst), now))
        rate = limit.per_minute * self.share / 60.0
        bucket.tokens = min(float(limit.burst), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        return bucket


class ReadPacer:
    """One bucket for all of the simulator's reads: at most ``share`` of the API's per-address rate (no limit
    when the API has none). :meth:`wait` sleeps until a token is free."""

    def __init__(self, settings: Settings, share: float = 0.4, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = settings.rate_limit_reads_per_second * share
        self.burst = max(1.0, min(settings.rate_limit_reads_burst * share, self.rate))
        self.clock = clock
        self._tokens, self._at = self.burst, clock()

    def delay(self) -> float:
        """Take a token; the seconds to wait before using it (0: now)."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def wait(self) -> None:
        delay = self.delay()
        if delay:
            await asyncio.sleep(delay)
