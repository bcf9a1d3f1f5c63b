"""Per-user token buckets in Redis (one Lua call per request, so it is atomic across API replicas)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Limit:
    """``per_minute`` actions, bursting up to ``burst``."""

    per_minute: int
    burst: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int


async def take(redis: Any, user_id: str, action: str, limit: Limit) -> Decision:
    rate = limit.per_minute / 60.0
    allowed, retry_ms = await redis.eval(_TAKE, 1, keys.rate_bucket(user_id, action),
                                         limit.burst, rate, time.time(), 1)
    return Decision(bool(int(allowed)), max(1, math.ceil(int(retry_ms) / 1000)) if not int(allowed) else 0)
