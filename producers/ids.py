"""Ids and clocks for events.

Event, post, user, image and comment ids are UUIDv7 strings in canonical text form: opaque to readers,
unique without coordination, and sortable by creation time (newest-first lists sort by id).
"""

from __future__ import annotations

import time
import uuid

import uuid_utils


def new_id() -> str:
    """A fresh UUIDv7."""
    return str(uuid_utils.uuid7())


def is_id(value: str) -> bool:
    """True if ``value`` is a canonical UUID string: any version, but exactly the lower-case 36-character form
    (the API rejects anything else). One spelling per id, so an id compares equal only to itself: an
    upper-case spelling of your own id must not pass as someone else (following yourself, say)."""
    try:
        return len(value) == 36 and str(uuid.UUID(value)) == value
    except (ValueError, AttributeError, TypeError):
        return False


def deterministic_id(namespace: str, *parts: str) -> str:
    """A stable UUID derived from its inputs, so re-deriving an event never creates a second identity."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "photostream:" + namespace + ":" + "\x1f".join(parts)))


def now_ms() -> int:
    return time.time_ns() // 1_000_000
