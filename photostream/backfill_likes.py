"""`photostream backfill likes-by-user`: the likes-by-user index (migration 0014) for likes given before it.

An account's deletion finds the likes it gave through that index (each retracted by an unlike), and "liked by
me" on a page of posts is read from it (a Redis copy of the user's partition, :mod:`sinks.partition_cache`).
A like given before the index existed was neither retracted with its account nor shown as liked to its giver.
This walks ``post_engagement``'s like rows a page at a time and writes each standing like the index lacks,
timestamped with the time its membership row was last written (its ``WRITETIME``): an unlike applied while the
walk runs deletes the index row at a later time, so it still wins. Then it drops the Redis copies of the users
it wrote for, so their next read sees the rows. Safe to run again: a like already indexed is left as it is.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from photostream.rebuild import stores
from photostream.settings import Settings
from sinks.cassandra import execute, execute_grouped, key_chunks, pages
from sinks.partition_cache import LIKES, PartitionCache

PAGE_SIZE = 1000
#: users whose index rows are read at the same time
READS_AT_ONCE = 32


@dataclass
class BackfillReport:
    rows_read: int = 0
    standing_likes: int = 0
    indexed_already: int = 0
    written: int = 0


async def backfill_likes_by_user(settings: Settings, dry_run: bool = False) -> BackfillReport:
    report = BackfillReport()
    async with stores(settings) as (session, redis):
        walk = session.prepare("SELECT post_id, kind, key, liked, WRITETIME(liked) AS written FROM post_engagement")
        indexed = session.prepare("SELECT post_id FROM likes_by_user WHERE user_id = ? AND post_id IN ?")
        insert = session.prepare("INSERT INTO likes_by_user (user_id, post_id) VALUES (?, ?) USING TIMESTAMP ?")
        copies = PartitionCache(redis, LIKES)
        async for page in pages(session, walk, (), PAGE_SIZE):
            report.rows_read += len(page)
            likes = {(row.key, row.post_id): row.written for row in page
                     if row.kind == "l" and row.liked and row.written is not None}
            report.standing_likes += len(likes)
            missing = await _not_indexed(session, indexed, likes)
            report.indexed_already += len(likes) - len(missing)
            report.written += len(missing)
            if missing and not dry_run:
                await execute_grouped(session, [(insert, (user, post, likes[user, post])) for user, post in missing])
                await copies.invalidate(sorted({user for user, _ in missing}))
    return report


async def _not_indexed(session: Any, indexed: Any, likes: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    """The (user, post) likes among ``likes`` that have no index row: one read per user and chunk of posts."""
    posts_of: dict[str, list[str]] = defaultdict(list)
    for user, post in likes:
        posts_of[user].append(post)
    asks = [(user, chunk) for user, posts in posts_of.items() for chunk in key_chunks(posts)]
    found: set[tuple[str, str]] = set()
    for start in range(0, len(asks), READS_AT_ONCE):
        wave = asks[start:start + READS_AT_ONCE]
        for (user, _), rows in zip(wave, await asyncio.gather(*(execute(session, indexed, ask) for ask in wave)),
                                   strict=True):
            found.update((user, row.post_id) for row in rows)
    return [like for like in likes if like not in found]


def backfill(settings: Settings, dry_run: bool) -> BackfillReport:
    return asyncio.run(backfill_likes_by_user(settings, dry_run))
