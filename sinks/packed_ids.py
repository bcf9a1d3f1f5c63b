"""Newest-first id lists packed as Redis strings: 16 bytes per UUID, sorted descending, edited by Lua.

Why not a sorted set: a sorted set of 800 UUID strings costs ~113 B per entry (skiplist + dict); even as a
listpack it needs ~40 B. A packed string costs 16 B per entry plus the allocator's rounding (~20.5 B per entry
for a full feed of 800), and binary order of a UUIDv7 is its time order, so "newest first" is byte order.
Every edit is one atomic script (feeds are written concurrently by the fan-outs of many authors, which may run
on different workers): binary search, splice, truncate to the cap. Reads return canonical UUID strings.
"""

from __future__ import annotations

import uuid
from typing import Any

WIDTH = 16

_COMMON = """
local W = 16
local function cmp(a, b)
  for i = 1, W do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then if x < y then return -1 end return 1 end
  end
  return 0
end
-- first position whose entry sorts below id (the list is descending), and whether id itself is there
local function seek(s, id)
  local lo, hi = 1, #s / W + 1
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    local c = cmp(string.sub(s, (mid - 1) * W + 1, mid * W), id)
    if c > 0 then lo = mid + 1 elseif c == 0 then return mid, true else hi = mid end
  end
  return lo, false
end
local function hex(b)
  local h = string.gsub(b, '.', function(c) return string.format('%02x', string.byte(c)) end)
  return string.sub(h, 1, 8) .. '-' .. string.sub(h, 9, 12) .. '-' .. string.sub(h, 13, 16) .. '-' ..
         string.sub(h, 17, 20) .. '-' .. string.sub(h, 21, 32)
end
"""

#: KEYS[1] list; ARGV[1] cap; ARGV[2] 'existing' (only edit a list that exists) or 'create'; ARGV[3..] ids
ADD = _COMMON + """
local s = redis.call('GET', KEYS[1])
if not s then
  if ARGV[2] == 'existing' then return 0 end
  s = ''
end
for i = 3, #ARGV do
  local pos, found = seek(s, ARGV[i])
  if not found then s = string.sub(s, 1, (pos - 1) * W) .. ARGV[i] .. string.sub(s, (pos - 1) * W + 1) end
end
local cap = tonumber(ARGV[1]) * W
if #s > cap then s = string.sub(s, 1, cap) end
redis.call('SET', KEYS[1], s, 'KEEPTTL')
return 1
"""

#: KEYS[1] list; ARGV ids to remove
REMOVE = _COMMON + """
local s = redis.call('GET', KEYS[1])
if not s then return 0 end
local removed = 0
for i = 1, #ARGV do
  local pos, found = seek(s, ARGV[i])
  if found then
    s = string.sub(s, 1, (pos - 1) * W) .. string.sub(s, pos * W + 1)
    removed = removed + 1
  end
end
if removed > 0 then redis.call('SET', KEYS[1], s, 'KEEPTTL') end
return removed
"""

#: KEYS[1] list; ARGV[1] id to continue after ('' from the top); ARGV[2] limit; ARGV[3] seconds to live
#: from now (0: leave the TTL) -> nil when the list does not exist, else {size, {ids...}}
PAGE = _COMMON + """
local s = redis.call('GET', KEYS[1])
if not s then return false end
if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
local start = 1
if ARGV[1] ~= '' then
  local pos, found = seek(s, ARGV[1])
  start = pos
  if found then start = pos + 1 end
end
local n = #s / W
local last = math.min(n, start + tonumber(ARGV[2]) - 1)
local out = {}
for i = start, last do out[#out + 1] = hex(string.sub(s, (i - 1) * W + 1, i * W)) end
return {n, out}
"""


def pack_id(post_id: str) -> bytes:
    """16 bytes of a UUID (``ValueError`` for anything else: a record with such an id is poison)."""
    return uuid.UUID(post_id).bytes


def pack(post_ids: list[str]) -> bytes:
    """A whole list, newest first (sorted and de-duplicated here)."""
    return b"".join(sorted({pack_id(p) for p in post_ids}, reverse=True))


def unpack(raw: bytes) -> list[str]:
    """A packed list's ids as canonical strings (tests and tools reading the raw value)."""
    return [str(uuid.UUID(bytes=raw[i:i + WIDTH])) for i in range(0, len(raw), WIDTH)]


class PackedLists:
    """The scripts, registered once per client (EVALSHA afterwards)."""

    def __init__(self, redis: Any) -> None:
        self.add = redis.register_script(ADD)
        self.remove = redis.register_script(REMOVE)
        self.page = redis.register_script(PAGE)
