"""Token buckets in Redis, per user (writes) and per client address (reads).

One Lua call per request (EVALSHA: the script body is sent only once per Redis server), so a bucket is atomic
across API replicas and costs one round trip.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Any

from redis.exceptions import NoScriptError

from sinks import keys

# KEYS[1]=bucket; ARGV: capacity, refill per second, now (s, float), cost. Returns {allowed, retry_after_ms}.
_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry_ms = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  retry_ms = math.ceil((cost - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, retry_ms}
"""
_TAKE_SHA = hashlib.sha1(_TAKE.encode()).hexdigest()


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


async def take_for_address(redis: Any, address: str, limit: Limit) -> Decision:
    """Take one token from a client address's read bucket (an address never looks like a user id, so the
    two kinds of bucket cannot collide)."""
    return await _take(redis, keys.rate_bucket(address, "read"), limit)


async def _take(redis: Any, key: str, limit: Limit) -> Decision:
    rate = limit.per_minute / 60.0
    args = (limit.burst, rate, time.time(), 1)
    try:
        allowed, retry_ms = await redis.evalsha(_TAKE_SHA, 1, key, *args)
    except NoScriptError:  # first use on this server (or after SCRIPT FLUSH / a restart)
        allowed, retry_ms = await redis.eval(_TAKE, 1, key, *args)
    return Decision(bool(int(allowed)), max(1, math.ceil(int(retry_ms) / 1000)) if not int(allowed) else 0)
