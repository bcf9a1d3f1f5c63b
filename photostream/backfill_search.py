"""`photostream backfill user-search` / `hashtag-search`: the search tables' rows (migrations 0035, 0036) of
what was written before them.

``GET /search/users`` reads ``users_by_prefix``, which the profiles processor writes with each profile it
writes; a profile last written before the migration has no rows, and its user could not be found. This walks
``users`` a page at a time and lists each profile under its terms (username, display-name words), stamped with
the profile's own time as the processor stamps them: a purge racing the walk deletes the rows at the deletion's
(later) time and still wins, and a rename racing it lists the new terms at their own later time (the old rows
are then dropped by the first search that meets them).

``GET /search/hashtags`` reads ``hashtags_by_prefix``, which the hashtag counter writes the first time it counts a
tag; this walks the tags ``hashtag_state`` holds and lists each (the search leaves out those without posts).

Safe to run again: both write the same rows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from photostream.rebuild import stores
from photostream.settings import Settings
from sinks.cassandra import execute_grouped, ms_of, pages
from sinks.hashtag_search import HashtagSearch
from sinks.user_search import UserSearch

PAGE_SIZE = 1000


@dataclass
class BackfillReport:
    read: int = 0
    written: int = 0


async def backfill_user_search(settings: Settings, dry_run: bool = False) -> BackfillReport:
    report = BackfillReport()
    async with stores(settings) as (session, _redis):
        search = UserSearch(session)
        walk = session.prepare("SELECT user_id, username, display_name, updated_at FROM users")
        async for page in pages(session, walk, (), PAGE_SIZE):
            report.read += len(page)
            listings = [listing for row in page for listing in search.listings(
                row.user_id, row.username, row.display_name, ms_of(row.updated_at) if row.updated_at else 0)]
            report.written += len(listings)
            if not dry_run:
                await execute_grouped(session, listings)
    return report


async def backfill_hashtag_search(settings: Settings, dry_run: bool = False) -> BackfillReport:
    report = BackfillReport()
    async with stores(settings) as (session, _redis):
        search = HashtagSearch(session)
        walk = session.prepare("SELECT DISTINCT tag FROM hashtag_state")
        async for page in pages(session, walk, (), PAGE_SIZE):
            report.read += len(page)
            report.written += len(page)
            if not dry_run:
                await search.list_tags(row.tag for row in page)
    return report


def backfill(what: str, settings: Settings, dry_run: bool) -> BackfillReport:
    """``what``: ``user-search`` or ``hashtag-search``."""
    run = backfill_user_search if what == "user-search" else backfill_hashtag_search
    return asyncio.run(run(settings, dry_run))
