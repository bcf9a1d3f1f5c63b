"""What the search tables share (``users_by_prefix``, ``hashtags_by_prefix``): terms partitioned by their first
characters and sorted within, so what a user typed is one range of one partition."""

from __future__ import annotations

#: the partition: a name's first characters (a query must hold at least this many)
PREFIX_CHARS = 2
#: the greatest code point: every name starting with q sorts below q + this
_AFTER_ALL = "\U0010ffff"


def prefix_of(name: str) -> str:
    return name[:PREFIX_CHARS]


def starting_with(query: str) -> tuple[str, str, str]:
    """(partition, lowest, bound) of the names starting with ``query``: ``name >= lowest AND name < bound``."""
    return prefix_of(query), query, query + _AFTER_ALL
