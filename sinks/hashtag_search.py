"""Hashtags by prefix (``hashtags_by_prefix``, migration 0036): what ``GET /search/hashtags`` reads.

The hashtag counter lists a tag the first time it counts it (before it saves the count, so a crash between the
two lists it again on the retry). Only announced posts reach the counter (public posts of public accounts:
:func:`photostream.domain.extraction.on_post_created`), so a tag only private posts carry is never listed. A
tag is never unlisted: one whose posts all went (deleted, or their account turned private) keeps its row, and
the search leaves out tags without a post (their count, read with the page).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cassandra.cluster import Session

from sinks.cassandra import execute, execute_grouped
from sinks.prefix_index import prefix_of, starting_with


class HashtagSearch:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._w = session.prepare("INSERT INTO hashtags_by_prefix (prefix, tag) VALUES (?, ?)")
        self._q = session.prepare("SELECT tag FROM hashtags_by_prefix WHERE prefix = ? AND tag >= ? AND tag < ? "
                                  "LIMIT ?")

    def listing(self, tag: str) -> tuple[Any, tuple[Any, ...]]:
        return self._w, (prefix_of(tag), tag)

    async def list_tags(self, tags: Iterable[str]) -> None:
        await execute_grouped(self._session, [self.listing(tag) for tag in tags])

    async def candidates(self, query: str, limit: int) -> list[str]:
        """Up to ``limit`` listed tags starting with ``query`` (≥ 2 characters), in name order."""
        rows = await execute(self._session, self._q, (*starting_with(query), limit))
        return [row.tag for row in rows.current_rows]
