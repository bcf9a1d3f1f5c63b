"""`photostream rebuild VIEW`: re-derive a materialised view from durable state and prove it equals live.

Each view registers one rebuilder in :data:`REBUILDERS` (hashtags today; feeds, unread and notifications plug
in the same way). A rebuilder compares every key it derives with what Redis holds and, unless asked only to
check, overwrites the keys that differ.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from photostream.settings import Settings


@dataclass
class RebuildReport:
    view: str
    keys_compared: int = 0
    differences: list[str] = field(default_factory=list)
    repaired: int = 0  # keys' owners (tags, posts) rewritten


Rebuilder = Callable[[Settings, bool], Coroutine[Any, Any, RebuildReport]]

#: how many times a key found differing is read again before it is reported (see :func:`persisting`)
CONFIRMING_READS = 3
#: how many times a fenced repair of one key is tried while the key keeps changing (see :func:`fenced_repair`)
REPAIR_ATTEMPTS = 3

Found = TypeVar("Found")


async def persisting(differing: Mapping[str, Found],
                     compare_again: Callable[[list[str]], Awaitable[Mapping[str, Found]]]) -> dict[str, Found]:
    """Of ``differing`` (key → what its comparison found), the keys that still differ when compared again, up to
    :data:`CONFIRMING_READS` times, each with what its last comparison found.

    Why: a deployment's processors go on writing while a rebuilder compares, each its durable row first and its
    Redis view next. A write landing between a comparison's two reads shows as a difference once (seen in the
    suite: a like applied between the counts' Cassandra read and their Redis read, "live (2, 0), durable (1, 0)"),
    so `--check` on a live stream cried wolf. A stale view differs at every reading; only those are reported
    (and repaired). ``compare_again(keys)`` reads those keys' two sides again and returns the ones that differ."""
    found = dict(differing)
    for _ in range(CONFIRMING_READS):
        if not found:
            break
        found = dict(await compare_again(sorted(found)))
    return found


Comparison = TypeVar("Comparison")


async def last_comparison(compare: Callable[[], Awaitable[Comparison]],
                          agrees: Callable[[Comparison], bool]) -> Comparison:
    """:func:`persisting` for one key compared on its own: ``compare()`` again while its result does not
    ``agree``, up to :data:`CONFIRMING_READS` more times; its last result."""
    compared = await compare()
    for _ in range(CONFIRMING_READS):
        if agrees(compared):
            break
        compared = await compare()
    return compared


def _hashtags(settings: Settings, repair: bool) -> Coroutine[Any, Any, RebuildReport]:
    from photostream.rebuild_hashtags import rebuild_hashtags

    return rebuild_hashtags(settings, repair)


def _feeds(settings: Settings, repair: bool) -> Coroutine[Any, Any, RebuildReport]:
    from photostream.rebuild_feeds import rebuild_feeds

    return rebuild_feeds(settings, repair)


def _unread(settings: Settings, repair: bool) -> Coroutine[Any, Any, RebuildReport]:
    from photostream.rebuild_unread import rebuild_unread

    return rebuild_unread(settings, repair)


def _notifications(settings: Settings, repair: bool) -> Coroutine[Any, Any, RebuildReport]:
    from photostream.rebuild_notifications import rebuild_notifications

    return rebuild_notifications(settings, repair)


def _photo_tags(settings: Settings, repair: bool) -> Coroutine[Any, Any, RebuildReport]:
    from photostream.rebuild_photo_tags import rebuild_photo_tags

    return rebuild_photo_tags(settings, repair)


#: view name -> rebuilder(settings, repair)
REBUILDERS: dict[str, Rebuilder] = {"hashtags": _hashtags, "feeds": _feeds, "unread": _unread,
                                    "notifications": _notifications, "photo-tags": _photo_tags}


@asynccontextmanager
async def stores(settings: Settings) -> AsyncIterator[tuple[Any, Any]]:
    """The Cassandra session and the Redis client a rebuilder compares, open for one run."""
    from sinks.cassandra import connect
    from sinks.redis_client import async_client

    cluster, session = connect(settings)
    redis = async_client(settings)
    try:
        yield session, redis
    finally:
        await redis.aclose()
        cluster.shutdown()


def rebuild(settings: Settings, view: str, repair: bool) -> RebuildReport:
    if view not in REBUILDERS:
        raise KeyError(view)
    return asyncio.run(REBUILDERS[view](settings, repair))


async def fenced_repair(report: RebuildReport, what: str, compared: Comparison,
                        compare: Callable[[], Awaitable[Comparison]], agrees: Callable[[Comparison], bool],
                        fill: Callable[[Comparison], Awaitable[bool]]) -> Literal["repaired", "agrees", "changing"]:
    """Rewrite one key (``what``, in the report's words) from its last comparison (``compared``, which differs).
    ``fill`` writes it fenced by the version that comparison read and is False if a projection landed meanwhile
    (an unfenced rewrite erased a mark-read or a notification that landed between its Cassandra read and its
    write); the key is then compared again, and filled again if it still differs, up to :data:`REPAIR_ATTEMPTS`
    times in all. Counted in ``report``: "repaired", or "changing" (it changed during every attempt: left to the
    next run, and said so)."""
    for attempt in range(REPAIR_ATTEMPTS):
        if attempt:
            compared = await compare()
            if agrees(compared):
                return "agrees"
        if await fill(compared):
            report.repaired += 1
            return "repaired"
    report.differences.append(f"{what}: changed during each of {REPAIR_ATTEMPTS} repairs (left to the next run)")
    return "changing"
