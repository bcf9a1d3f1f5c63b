"""`photostream backfill user-search`: the username search's row (migration 0035) of every profile from before it.

``GET /search/users`` reads ``usernames_by_prefix``, which the profiles processor writes with each profile it
writes; a profile last written before the migration has no row, and its user could not be found. This walks
``users`` a page at a time and lists each profile under its name, stamped with the profile's own time as the
processor stamps it: a purge racing the walk deletes the row at the deletion's (later) time and still wins, and a
rename racing it lists the new name at its own later time (the old row is then dropped by the first search that
meets it). Safe to run again: it writes the same rows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from photostream.rebuild import stores
from photostream.settings import Settings
from sinks.cassandra import execute_grouped, ms_of, pages
from sinks.user_search import UserSearch

PAGE_SIZE = 1000


@dataclass
class BackfillReport:
    profiles_read: int = 0
    written: int = 0


async def backfill_user_search(settings: Settings, dry_run: bool = False) -> BackfillReport:
    report = BackfillReport()
    async with stores(settings) as (session, _redis):
        search = UserSearch(session)
        walk = session.prepare("SELECT user_id, username, updated_at FROM users")
        async for page in pages(session, walk, (), PAGE_SIZE):
            report.profiles_read += len(page)
            listings = [search.listing(row.user_id, row.username, ms_of(row.updated_at) if row.updated_at else 0)
                        for row in page if row.username]
            report.written += len(listings)
            if not dry_run:
                await execute_grouped(session, listings)
    return report


def backfill(settings: Settings, dry_run: bool) -> BackfillReport:
    return asyncio.run(backfill_user_search(settings, dry_run))
