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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session

from photostream.rebuild import stores
from photostream.settings import Settings
from sinks.cassandra import execute_grouped, ms_of, pages
from sinks.hashtag_search import HashtagSearch
from sinks.user_search import UserSearch

PAGE_SIZE = 1000
Statement = tuple[Any, tuple[Any, ...]]


@dataclass
class BackfillReport:
    read: int = 0
    written: int = 0


#: what makes a page's statements, given the session (its statements prepared once per walk)
Lister = Callable[[Session], Callable[[list[Any]], list[Statement]]]


async def _walk(settings: Settings, cql: str, lister: Lister, dry_run: bool) -> BackfillReport:
    """Read ``cql`` a page at a time and write the statements the lister makes of each page."""
    report = BackfillReport()
    async with stores(settings) as (session, _redis):
        walk, listings = session.prepare(cql), lister(session)
        async for page in pages(session, walk, (), PAGE_SIZE):
            written = listings(page)
            report.read, report.written = report.read + len(page), report.written + len(written)
            if not dry_run:
                await execute_grouped(session, written)
    return report


def _user_lister(session: Session) -> Callable[[list[Any]], list[Statement]]:
    search = UserSearch(session)
    return lambda page: [listing for row in page for listing in search.listings(
        row.user_id, row.username, row.display_name, ms_of(row.updated_at) if row.updated_at else 0)]


def _tag_lister(session: Session) -> Callable[[list[Any]], list[Statement]]:
    search = HashtagSearch(session)
    return lambda page: [search.listing(row.tag) for row in page]


#: what each backfill walks, and what it writes of it
_WALKS: dict[str, tuple[str, Lister]] = {
    "user-search": ("SELECT user_id, username, display_name, updated_at FROM users", _user_lister),
    "hashtag-search": ("SELECT DISTINCT tag FROM hashtag_state", _tag_lister)}


def backfill(what: str, settings: Settings, dry_run: bool) -> BackfillReport:
    """``what``: ``user-search`` or ``hashtag-search``."""
    cql, listings = _WALKS[what]
    return asyncio.run(_walk(settings, cql, listings, dry_run))
