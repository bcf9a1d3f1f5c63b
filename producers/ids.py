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
    """True if ``value`` is a canonical UUID string (any version; the API rejects anything else)."""
    try:
        return str(uuid.UUID(value)) == value.lower() and len(value) == 36
    except (ValueError, AttributeError, TypeError):
        return False


def deterministic_id(namespace: str, *parts: str) -> str:
    """A stable UUID derived from its inputs, so re-deriving an event never creates a second identity."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "photostream:" + namespace + ":" + "\x1f".join(parts)))


def now_ms() -> int:
    return time.time_ns() // 1_000_000
