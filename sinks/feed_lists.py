"""Newest-first id lists as Redis lists of 16-byte ids, edited by Lua; one script call per page of lists.

Why this shape (measured by `python -m benchmarks --only feeds`, same Redis, same run):
- a sorted set of 800 UUID strings costs ~132 B per entry; a list of 16-byte binary ids ~19 B (listpack
  nodes), and the binary order of a UUIDv7 is its time order, so newest first is simply head first;
- the common edit, a new post newer than everything in the list, is a compare with the head and an LPUSH
  (~5 µs server-side against ~100 µs for splicing a packed string), an older id (back-fill, replay) falls back
  to a scan and LINSERT, and duplicates are refused by LPOS. The head read doubles as the existence check and
  LPUSH answers the length the cap needs: five server calls per insert into a full feed, not seven (4.4–4.8
  against 5.2–8.5 µs of Redis time per insert, measured side by side on 2,000 full feeds);
- fan-out sends one script call for a whole page of followers (the same ids into many lists), so the client
  pays one round trip per page, not per follower. On Redis Cluster a multi-key call needs one hash slot, so
  there the caller sends one call per list (``per_key=True``).
- a list full to its cap is cut back to the cap only once it has grown ``cap // 8`` past it (:func:`trim_at`),
  so the common insert into a full feed is two server calls (LINDEX, LPUSH), not four (LTRIM and the
  sentinel's RPUSH on every insert): 4.5 µs of Redis time per insert became ~2.5 µs. Entries past the cap
  are the feed's next-oldest posts, still exact (readers treat a list at or past the cap as cut there).
A list always ends with a marker, so a built but empty feed still exists (an empty Redis list is deleted); both
markers sort below every id. :data:`SENTINEL` says the list is exact to its end; :data:`CUT` says it is exact
only down to its last id: it was cut back to the cap, refused an id below its last one, or was built from a read
of durable state that stopped before the author's first post. Removals (unfollows, deletes, mutes) keep the
marker, so a cut list that shrinks below its cap still says it was cut: readers fetch what lies below its last
id from Cassandra instead of taking the list for the whole history.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from typing import Any

SENTINEL = b"\x00"
#: the end marker of a list exact only down to its last id (two zero bytes: still below every 16-byte id)
CUT = b"\x00\x00"
ENDS = (SENTINEL, CUT)

_COMMON = """
local SENTINEL = '\\0'
local CUT = '\\0\\0'
local function cmp(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then if x < y then return -1 end return 1 end
  end
  if #a == #b then return 0 end
  if #a < #b then return -1 end
  return 1
end
-- a 16-byte id as UUID text, from its four 32-bit words (struct.unpack): four C calls for the whole id, where a
-- gsub calling string.format per byte cost a page of 20 ids ~77 us of Redis time, three quarters of the page
-- script's; this ~15 us
local function text(a, x, y, d)
  x, y = bit.tohex(x, 8), bit.tohex(y, 8)
  return bit.tohex(a, 8) .. '-' .. string.sub(x, 1, 4) .. '-' .. string.sub(x, 5, 8) .. '-' ..
         string.sub(y, 1, 4) .. '-' .. string.sub(y, 5, 8) .. bit.tohex(d, 8)
end
"""

#: KEYS lists; ARGV[1] cap; ARGV[2] the length past which a list is cut back to the cap; ARGV[3] 'existing'
#: (only lists that exist: built feeds) or 'create'; ARGV[4..] ids, newest first (see :func:`add_args`)
ADD = _COMMON + """
local cap = tonumber(ARGV[1])
local most = tonumber(ARGV[2])
local create = ARGV[3] == 'create'
local touched = 0
for k = 1, #KEYS do
  local key = KEYS[k]
  local head = redis.call('LINDEX', key, 0)  -- false: no list (a feed not built, unless we may create it)
  if head == CUT then  -- cut, and no id left to say where: it knows nothing, so it is dropped (unbuilt)
    redis.call('DEL', key)
    head = false
  end
  if head or create then
    if not head then redis.call('RPUSH', key, SENTINEL); head = SENTINEL end
    local len = false  -- the length after the last insert (LPUSH and LINSERT answer it): no LLEN
    for i = #ARGV, 4, -1 do  -- oldest first, so each newer id lands at the head
      local id = ARGV[i]
      local c = cmp(id, head)
      if c > 0 then
        len = redis.call('LPUSH', key, id)
        head = id
      elseif c < 0 and not redis.call('LPOS', key, id) then
        local all = redis.call('LRANGE', key, 0, -1)
        for j = 1, #all do
          if cmp(all[j], id) < 0 then
            -- below the last id of a cut list (or one at its cap) an id would leave a gap above it: refused,
            -- and the list says it is cut there
            if j < #all or (all[#all] == SENTINEL and #all - 1 < cap) then
              len = redis.call('LINSERT', key, 'BEFORE', all[j], id)
            elseif all[#all] == SENTINEL then
              redis.call('LSET', key, -1, CUT)
            end
            break
          end
        end
      end
    end
    if len and len > most + 1 then  -- the end marker is the +1
      redis.call('LTRIM', key, 0, cap - 1)
      redis.call('RPUSH', key, CUT)
    end
    touched = touched + 1
  end
end
return touched
"""

#: KEYS lists; ARGV ids to remove from each
REMOVE = """
local removed = 0
for k = 1, #KEYS do
  for i = 1, #ARGV do removed = removed + redis.call('LREM', KEYS[k], 1, ARGV[i]) end
end
return removed
"""

#: KEYS lists; ARGV a floor id per list, in the same order: each list loses its ids below its floor and is marked
#: cut (a back-fill whose read stopped at that floor cannot vouch for anything below it), or is dropped if nothing
#: is left (then it is rebuilt from durable state like any feed not built) -> lists edited
CUT_BELOW = _COMMON + """
local cut = 0
for k = 1, #KEYS do
  local all = redis.call('LRANGE', KEYS[k], 0, -1)
  if #all > 0 then
    local keep = #all - 1
    for j = 1, #all - 1 do
      if cmp(all[j], ARGV[k]) < 0 then keep = j - 1; break end
    end
    if keep == 0 then  -- nothing at or above the floor: a cut list with no id knows nothing, so it goes
      redis.call('DEL', KEYS[k])
    else
      redis.call('LSET', KEYS[k], keep, CUT)  -- the first id below the floor (or the old marker) becomes it
      redis.call('LTRIM', KEYS[k], 0, keep)  -- in place: the list keeps its TTL
    end
    cut = cut + 1
  end
end
return cut
"""

#: one list's page (:data:`PAGE` and :data:`PAGES` are made of it)
_PAGE_OF = """
local function page_of(key, after, limit, ttl, floor)
  if redis.call('EXISTS', key) == 0 then return false end
  if tonumber(ttl) > 0 then redis.call('EXPIRE', key, ttl) end
  local size = redis.call('LLEN', key) - 1
  local cut = 0
  if redis.call('LINDEX', key, -1) == CUT then cut = 1 end
  local start = 0
  if after ~= '' then
    local lo, hi = 0, size  -- first index whose id sorts below the cursor
    while lo < hi do
      local mid = math.floor((lo + hi) / 2)
      if cmp(redis.call('LINDEX', key, mid), after) >= 0 then lo = mid + 1 else hi = mid end
    end
    start = lo
  end
  local fa, fb, fc, fd
  if (floor or '') ~= '' then fa, fb, fc, fd = struct.unpack('>I4I4I4I4', floor) end
  local out, stopped = {}, 0
  for _, id in ipairs(redis.call('LRANGE', key, start, start + tonumber(limit) - 1)) do
    if id ~= SENTINEL and id ~= CUT then
      local a, b, c, d = struct.unpack('>I4I4I4I4', id)
      if fa and (a < fa or (a == fa and (b < fb or (b == fb and (c < fc or (c == fc and d < fd)))))) then
        stopped = 1  -- newest first: every id after this one is below the floor too
        break
      end
      out[#out + 1] = text(a, b, c, d)
    end
  end
  return {size, out, cut, stopped}
end
"""
#: KEYS[1] list; ARGV[1] id to continue after ('' from the top); ARGV[2] limit; ARGV[3] seconds to live from
#: now (0: leave the TTL); ARGV[4] (optional) a floor: ids below it are not wanted (a pull page merged with a full
#: page of the reader's own feed: nothing below that page's last id can make the merged page) -> nil when the list
#: does not exist, else {size, {ids...}, 1 if cut else 0, 1 if the page stopped at the floor else 0}
PAGE = _COMMON + _PAGE_OF + "return page_of(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])\n"
PAGE_SHA = hashlib.sha1(PAGE.encode()).hexdigest()
#: KEYS lists; ARGV as :data:`PAGE`'s -> one answer per list, as :data:`PAGE` gives it, but 0 for a list that does
#: not exist. The pull pages of a reader's celebrities in one command, where one :data:`PAGE` per celebrity (on a
#: shared pipeline) cost each its own command on both sides: ~3% of the API's CPU for a page of a reader following
#: eight, measured in-process. Not on Redis Cluster, where a script's keys must share a slot.
PAGES = _COMMON + _PAGE_OF + """
local pages = {}
for i, key in ipairs(KEYS) do pages[i] = page_of(key, ARGV[1], ARGV[2], ARGV[3], ARGV[4]) or 0 end
return pages
"""
PAGES_SHA = hashlib.sha1(PAGES.encode()).hexdigest()


def trim_at(cap: int) -> int:
    """The length past which a list full to ``cap`` is cut back to ``cap`` (one cut per ``cap // 8`` inserts)."""
    return cap + max(1, cap // 8)


def add_args(cap: int, mode: str, ids: Iterable[bytes]) -> list[Any]:
    """ARGV of :data:`ADD`: ``mode`` is 'existing' (edit only built lists) or 'create'."""
    return [cap, trim_at(cap), mode, *ids]


def pack_id(post_id: str) -> bytes:
    """16 bytes of a UUID (``ValueError`` for anything else: a record with such an id is poison)."""
    return uuid.UUID(post_id).bytes


def newest_first(post_ids: Iterable[str]) -> list[bytes]:
    return sorted({pack_id(p) for p in post_ids}, reverse=True)


def unpack(items: list[bytes]) -> list[str]:
    """A raw list's ids as canonical strings (tests and tools reading the raw value)."""
    return [str(uuid.UUID(bytes=item)) for item in items if item not in ENDS]


class FeedLists:
    """The scripts, registered once per client (EVALSHA afterwards)."""

    def __init__(self, redis: Any) -> None:
        self.add = redis.register_script(ADD)
        self.remove = redis.register_script(REMOVE)
        self.page = redis.register_script(PAGE)
        self.cut_below = redis.register_script(CUT_BELOW)
