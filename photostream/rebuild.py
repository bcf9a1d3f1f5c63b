"""`photostream rebuild VIEW`: re-derive a materialised view from durable state and prove it equals live.

Each view registers one rebuilder in :data:`REBUILDERS` (hashtags today; feeds, unread and notifications plug
in the same way). A rebuilder compares every key it derives with what Redis holds and, unless asked only to
check, overwrites the keys that differ.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from photostream.settings import Settings


@dataclass
class RebuildReport:
    view: str
    keys_compared: int = 0
    differences: list[str] = field(default_factory=list)
    repaired: int = 0  # keys' owners (tags, posts) rewritten


Rebuilder = Callable[[Settings, bool], Coroutine[Any, Any, RebuildReport]]


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
