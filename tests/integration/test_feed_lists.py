"""The feed list scripts on the real Redis: order, duplicates, the cap and the end markers (exact to the end,
or cut), and which lists an insert may create — the invariants every feed and pull set relies on."""

from __future__ import annotations

import time
import uuid
from typing import Any

import redis.asyncio as aioredis

from photostream.settings import Settings
from producers.ids import new_id
from sinks.feed_lists import (
    CUT,
    PAGE,
    PAGE_SHA,
    PAGES,
    PAGES_SHA,
    SENTINEL,
    FeedLists,
    add_args,
    newest_first,
    pack_id,
    trim_at,
    unpack,
)
from sinks.redis_client import async_client

CAP = 8


def ids_in_time_order(count: int) -> list[str]:
    """``count`` UUIDv7-shaped ids, oldest first, one millisecond apart (their bytes sort as their times)."""
    base = int(time.time() * 1000)
    return [str(uuid.UUID(int=((base + i) << 80) | (0x7 << 76) | (i + 1))) for i in range(count)]


def raw_client(settings: Settings) -> Any:
    """A client answering bytes: the lists hold binary ids."""
    return aioredis.Redis.from_url(settings.redis_url)


async def _list(redis: Any, key: str) -> tuple[list[str], bytes]:
    raw = await redis.lrange(key, 0, -1)
    return unpack(raw), raw[-1]


async def test_inserts_keep_newest_first_refuse_duplicates_and_respect_the_cap(settings: Settings) -> None:
    redis, raw = async_client(settings), raw_client(settings)
    lists, key = FeedLists(redis), f"test:feed-lists:{new_id()}"
    ids = ids_in_time_order(CAP + 4)
    try:
        assert await lists.add(keys=[key], args=add_args(CAP, "existing", newest_first(ids[:2]))) == 0  # unbuilt
        assert not await redis.exists(key)
        assert await lists.add(keys=[key], args=add_args(CAP, "create", newest_first([ids[1], ids[3]]))) == 1
        await lists.add(keys=[key], args=add_args(CAP, "existing", newest_first([ids[0], ids[2]])))  # spliced
        await lists.add(keys=[key], args=add_args(CAP, "existing", newest_first([ids[3], ids[2]])))  # duplicates
        assert await _list(raw, key) == ([ids[3], ids[2], ids[1], ids[0]], SENTINEL)
        for post in ids[4:-1]:  # newer ones at the head; past the cap and its slack, cut back to the cap
            await lists.add(keys=[key], args=add_args(CAP, "existing", newest_first([post])))
        assert await _list(raw, key) == (list(reversed(ids[2:-1])), CUT)  # cut back once already
        assert await raw.llen(key) == trim_at(CAP) + 1  # the slack is full: not cut again yet
        await lists.add(keys=[key], args=add_args(CAP, "existing", newest_first([ids[-1]])))
        assert await _list(raw, key) == (list(reversed(ids[-CAP:])), CUT)  # cut back to the cap, and says so
    finally:
        await redis.delete(key)
        await redis.aclose()
        await raw.aclose()


async def test_a_list_at_its_cap_refuses_ids_below_its_last_one(settings: Settings) -> None:
    """Below the last id of a list that was cut lie posts it no longer holds: an older id inserted there
    would leave a gap that readers, trusting the list down to its last entry, would skip."""
    redis, raw = async_client(settings), raw_client(settings)
    lists, key = FeedLists(redis), f"test:feed-lists:{new_id()}"
    ids = ids_in_time_order(CAP + 3)
    try:
        held = [i for i in ids[2:] if i != ids[5]]  # CAP ids: the list is at its cap
        await lists.add(keys=[key], args=add_args(CAP, "create", newest_first(held)))
        await lists.add(keys=[key], args=add_args(CAP, "existing", newest_first([ids[0]])))  # below: refused
        assert await _list(raw, key) == (list(reversed(held)), CUT)  # and from now on exact only down to its end
        await lists.add(keys=[key], args=add_args(CAP, "existing", newest_first([ids[5], ids[1]])))
        # ids[5] sits between held ids: spliced; ids[1] is still below the last one: refused
        assert await _list(raw, key) == (list(reversed(ids[2:])), CUT)
    finally:
        await redis.delete(key)
        await redis.aclose()
        await raw.aclose()


async def test_one_call_edits_many_lists_and_counts_the_built_ones(settings: Settings) -> None:
    redis, raw = async_client(settings), raw_client(settings)
    lists = FeedLists(redis)
    built, missing = [f"test:feed-lists:{new_id()}" for _ in range(3)], f"test:feed-lists:{new_id()}"
    old, new = ids_in_time_order(2)
    try:
        for key in built:
            await lists.add(keys=[key], args=add_args(CAP, "create", newest_first([old])))
        assert await lists.add(keys=[*built, missing], args=add_args(CAP, "existing", newest_first([new]))) == 3
        for key in built:
            assert await _list(raw, key) == ([new, old], SENTINEL)
        assert not await redis.exists(missing)
    finally:
        await redis.delete(*built, missing)
        await redis.aclose()
        await raw.aclose()


async def test_a_cut_list_stays_cut_when_it_shrinks(settings: Settings) -> None:
    """An unfollow or a delete removes ids from a list cut at its cap: it then holds fewer ids than the cap
    but still lacks what lay below its last id, so its marker must keep saying so (readers then read on from
    Cassandra); a list never cut stays exact to its end."""
    redis, raw = async_client(settings), raw_client(settings)
    lists, cut, whole = FeedLists(redis), f"test:feed-lists:{new_id()}", f"test:feed-lists:{new_id()}"
    ids = ids_in_time_order(trim_at(CAP) + 3)
    try:
        await lists.add(keys=[whole], args=add_args(CAP, "create", newest_first(ids[:3])))
        for post in ids:
            await lists.add(keys=[cut], args=add_args(CAP, "create", newest_first([post])))
        assert await _list(raw, cut) == (list(reversed(ids[-CAP:])), CUT)
        await lists.remove(keys=[cut, whole], args=newest_first([ids[-1], ids[-2], ids[1]]))
        assert await _list(raw, cut) == (list(reversed(ids[-CAP:-2])), CUT)
        assert await _list(raw, whole) == ([ids[2], ids[0]], SENTINEL)
        size, page, is_cut, _ = await lists.page(keys=[cut], args=[b"", 100, 0])
        assert (size, len(page), is_cut) == (CAP - 2, CAP - 2, 1)
        assert (await lists.page(keys=[whole], args=[b"", 100, 0]))[2] == 0
        # a cut list that lost every id knows nothing: the next insert drops it (unbuilt, rebuilt when read)
        await lists.remove(keys=[cut], args=newest_first(ids))
        assert await _list(raw, cut) == ([], CUT)
        assert await lists.add(keys=[cut], args=add_args(CAP, "existing", newest_first([ids[0]]))) == 0
        assert not await redis.exists(cut)
    finally:
        await redis.delete(cut, whole)
        await redis.aclose()
        await raw.aclose()


async def test_cut_below_drops_the_ids_under_a_floor_and_marks_the_list(settings: Settings) -> None:
    """A back-fill whose read of a followee stopped at a floor: the feed keeps what lies at or above it."""
    redis, raw = async_client(settings), raw_client(settings)
    lists = FeedLists(redis)
    some, none_left, missing = (f"test:feed-lists:{new_id()}" for _ in range(3))
    ids = ids_in_time_order(6)
    try:
        await lists.add(keys=[some, none_left], args=add_args(CAP, "create", newest_first(ids[:4])))
        await redis.expire(some, 3600)
        assert await lists.cut_below(keys=[some, none_left, missing],
                                     args=[pack_id(ids[2]), pack_id(ids[5]), pack_id(ids[0])]) == 2
        assert await _list(raw, some) == ([ids[3], ids[2]], CUT)
        assert 0 < await raw.ttl(some) <= 3600  # edited in place: the feed keeps its time to live
        assert not await redis.exists(none_left)  # nothing left to vouch for: dropped, to be rebuilt when read
        assert not await redis.exists(missing)  # a feed that is not built stays unbuilt
    finally:
        await redis.delete(some, none_left, missing)
        await redis.aclose()
        await raw.aclose()


async def test_a_page_answers_every_id_as_its_canonical_text(settings: Settings) -> None:
    """The page script writes each 16-byte id as UUID text itself (unpacked as four 32-bit words): words with the
    high bit set, zero bytes and every hex digit come out as ``str(UUID)`` writes them; and it compares them
    with a floor word by word."""
    redis = async_client(settings)
    lists, key = FeedLists(redis), f"test:feed-lists:{new_id()}"
    extremes = [uuid.UUID(bytes=b"\xff" * 16), uuid.UUID(bytes=b"\x80\x00\x00\x00" * 4),
                uuid.UUID(bytes=bytes(range(16))), uuid.UUID(bytes=b"\x00" * 15 + b"\x01"),
                uuid.UUID("7fffffff-0123-4567-89ab-cdeffedcba98")]
    ids = sorted(str(u) for u in [*extremes, *(uuid.uuid4() for _ in range(20))])
    try:
        await lists.add(keys=[key], args=add_args(100, "create", newest_first(ids)))
        size, page, cut, stopped = await lists.page(keys=[key], args=[b"", 100, 0])
        assert (size, cut, stopped) == (len(ids), 0, 0)
        newest_first_text = sorted(ids, key=lambda text: uuid.UUID(text).bytes, reverse=True)
        assert page == newest_first_text
        # a floor keeps the ids at or above it and says the page stopped there; floors that differ from an id
        # only in its second, third or last 32-bit word too (the script compares the words in turn)
        for floor in [*extremes, *(uuid.UUID(int=u.int + 1) for u in extremes[1:]),
                      uuid.UUID(int=extremes[4].int - (1 << 64)), uuid.UUID(int=extremes[4].int + (1 << 32))]:
            _, above, _, stopped = await lists.page(keys=[key], args=[b"", 100, 0, floor.bytes])
            expected = [i for i in newest_first_text if uuid.UUID(i).bytes >= floor.bytes]
            assert (above, stopped) == (expected, int(len(expected) < len(ids))), floor
        _, _, _, stopped = await lists.page(keys=[key], args=[b"", 3, 0, extremes[3].bytes])
        assert stopped == 0  # a page that ends above its floor did not stop there
    finally:
        await redis.delete(key)
        await redis.aclose()


async def test_the_pages_of_many_lists_in_one_call_are_each_what_the_page_script_answers(settings: Settings) -> None:
    """:data:`PAGES` (a reader's celebrities' pull pages in one command) answers each list exactly as
    :data:`PAGE` does, and 0 where PAGE answers nil (a list not built): over lists cut and whole, full, empty,
    missing, from the top and after a cursor, with and without a floor. The TTL argument is honoured too."""
    redis = async_client(settings)
    run = new_id()
    names = [f"test:feed-lists:{run}:{i}" for i in range(5)]  # the last one is never built
    ids = ids_in_time_order(30)
    try:
        await redis.script_load(PAGES)
        await redis.script_load(PAGE)
        await redis.rpush(names[0], *newest_first(ids[:12]), SENTINEL)  # whole
        await redis.rpush(names[1], *newest_first(ids[5:25:2]), CUT)  # cut
        await redis.rpush(names[2], SENTINEL)  # built, empty
        await redis.rpush(names[3], *newest_first(ids[20:]), SENTINEL)
        for after, limit, floor in [(b"", 20, b""), (pack_id(ids[15]), 4, b""), (b"", 20, pack_id(ids[9])),
                                    (pack_id(ids[22]), 3, pack_id(ids[8])), (pack_id(ids[0]), 5, b"")]:
            together = await redis.evalsha(PAGES_SHA, len(names), *names, after, limit, 0, floor)
            one_by_one = [await redis.evalsha(PAGE_SHA, 1, name, after, limit, 0, floor) for name in names]
            assert together == [0 if page is None else page for page in one_by_one], (after, limit, floor)
            assert together[4] == 0 and together[0] != 0
        assert await redis.ttl(names[0]) == -1  # TTL 0: left alone
        await redis.evalsha(PAGES_SHA, 2, names[0], names[1], b"", 5, 60, b"")
        assert 0 < await redis.ttl(names[0]) <= 60 and 0 < await redis.ttl(names[1]) <= 60
    finally:
        await redis.delete(*names)
        await redis.aclose()
