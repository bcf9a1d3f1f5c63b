"""Token buckets in Redis, per user (writes) and per client address (reads).

One Lua call per request (EVALSHA: the script body is sent only once per Redis server), so a bucket is atomic
across API replicas and costs one round trip.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError

from sinks import keys

# KEYS[1]=bucket; ARGV: capacity, refill per second, now (s, float), wanted. Grants min(wanted, whole tokens
# available); returns {granted, ms until one token is free (when none was granted)}.
_LEASE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local wanted = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local granted = math.min(wanted, math.floor(tokens))
local retry_ms = 0
tokens = tokens - granted
if granted == 0 then
  retry_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {granted, retry_ms}
"""
_LEASE_SHA = hashlib.sha1(_LEASE.encode()).hexdigest()


@dataclass(frozen=True)
class Limit:
    """``per_minute`` actions, bursting up to ``burst``."""

    per_minute: float
    burst: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int


async def take(redis: Any, user_id: str, action: str, limit: Limit) -> Decision:
    """Take one token from ``user_id``'s bucket for ``action``."""
    return await _take(redis, keys.rate_bucket(user_id, action), limit)


class AddressLeases:
    """Reads' per-address buckets without a Redis round trip per read: this process takes a small lease of
    tokens from the shared Redis bucket (one EVALSHA for up to ``lease_size`` reads) and spends it locally.

    The shared bucket stays the only source of tokens, so all replicas together never allow more than the
    limit; a lease unspent after ``lease_ttl_s`` is dropped (those tokens are lost to the client rather than
    kept stale). The lease is small next to the burst (an eighth, at most 16), so the limit still bites
    within a few reads of where one round trip per read would put it.

    Buckets are per address (an address never looks like a user id, so the two kinds cannot collide).
    """

    def __init__(self, limit: Limit, lease_ttl_s: float = 1.0) -> None:
        self.limit, self.lease_ttl_s = limit, lease_ttl_s
        self.lease_size = max(1, min(16, limit.burst // 8))
        self._leases: dict[str, tuple[int, float]] = {}  # address -> (tokens left, expiry on the monotonic clock)
        #: one lease fetch at a time per address: reads arriving together (a page loading its images) wait for
        #: the one fetch instead of each fetching a lease and keeping only the last (the other leases' tokens
        #: were lost, and the client was refused well inside its burst)
        self._fetching: dict[str, asyncio.Lock] = {}
        #: addresses the shared bucket refused, until when (monotonic): their waiting reads are answered at once
        self._refused: dict[str, float] = {}

    async def take(self, redis: Any, address: str) -> Decision:
        decision = self._spend(address, time.monotonic())
        if decision is not None:
            return decision
        async with self._fetching.setdefault(address, asyncio.Lock()):
            # a lease (or a refusal) may have been fetched while this read waited for the lock
            decision = self._spend(address, time.monotonic())
            return decision if decision is not None else await self._fetch(redis, address)

    def _spend(self, address: str, now: float) -> Decision | None:
        """Answer from what this process holds: a token of the lease, or the refusal still in force."""
        left, expires = self._leases.get(address, (0, 0.0))
        if left > 0 and now < expires:
            self._leases[address] = (left - 1, expires)
            return Decision(True, 0)
        refused_until = self._refused.get(address, 0.0)
        if now < refused_until:
            return Decision(False, max(1, math.ceil(refused_until - now)))
        return None

    async def _fetch(self, redis: Any, address: str) -> Decision:
        """A new lease from the shared bucket: one token for this read, the rest kept for the next ones."""
        granted, retry_ms = await _lease(redis, keys.rate_bucket(address, "read"), self.limit, self.lease_size)
        now = time.monotonic()
        self._leases.pop(address, None)
        if granted == 0:
            self._refused[address] = now + retry_ms / 1000
            return Decision(False, max(1, math.ceil(retry_ms / 1000)))
        self._refused.pop(address, None)
        if granted > 1:
            self._leases[address] = (granted - 1, now + self.lease_ttl_s)
        if len(self._leases) + len(self._refused) + len(self._fetching) > 100_000:
            self._forget_idle(now)
        return Decision(True, 0)

    def _forget_idle(self, now: float) -> None:
        """Many idle addresses: drop expired leases and refusals, and the locks nobody holds."""
        self._leases = {a: lease for a, lease in self._leases.items() if lease[1] > now}
        self._refused = {a: until for a, until in self._refused.items() if until > now}
        self._fetching = {a: lock for a, lock in self._fetching.items() if lock.locked()}


async def _lease(redis: Any, key: str, limit: Limit, want: int) -> tuple[int, int]:
    """Up to ``want`` tokens from the bucket at once: (how many were granted, ms until one is next free)."""
    args = (limit.burst, limit.per_minute / 60.0, time.time(), want)
    try:
        granted, retry_ms = await redis.evalsha(_LEASE_SHA, 1, key, *args)
    except NoScriptError:
        granted, retry_ms = await redis.eval(_LEASE, 1, key, *args)
    return int(granted), int(retry_ms)


async def _take(redis: Any, key: str, limit: Limit) -> Decision:
    """One token: a lease of one (the same script, so a bucket has one implementation)."""
    granted, retry_ms = await _lease(redis, key, limit, 1)
    return Decision(True, 0) if granted else Decision(False, max(1, math.ceil(retry_ms / 1000)))
