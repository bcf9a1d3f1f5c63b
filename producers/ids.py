"""Ids and clocks for events.

Event, post, user, image and comment ids are UUIDv7 strings in canonical text form: opaque to readers,
unique without coordination, and sortable by creation time (newest-first lists sort by id).
"""

from __future__ import annotations

import re
import time

import uuid_utils

#: the canonical text of a UUID (any version): what ``str(uuid.UUID(value))`` gives back, and nothing else
_CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: :data:`_CANONICAL` with the version nibble 7: a UUIDv7 in one match (see :func:`message_id_time_ms`)
_CANONICAL_V7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")


def new_id() -> str:
    """A fresh UUIDv7."""
    return str(uuid_utils.uuid7())


def is_id(value: str) -> bool:
    """True if ``value`` is a canonical UUID string: any version, but exactly the lower-case 36-character form
    (the API rejects anything else). One spelling per id, so an id compares equal only to itself: an
    upper-case spelling of your own id must not pass as someone else (following yourself, say).

    A pattern rather than ``str(uuid.UUID(value)) == value`` (the same answer: ``tests/unit/test_ids.py``): that
    parse cost ~2.3 µs, and ids are checked several times per event (the SDK, every processor, the API)."""
    return isinstance(value, str) and _CANONICAL.fullmatch(value) is not None


#: ids found canonical before (see :func:`is_recurring_id`); only ids that passed the pattern enter it
_RECURRING: set[str] = set()
#: the most remembered at once (~100 B each: ~6 MB); when full it starts over
RECURRING_MAX = 65_536


def is_recurring_id(value: str) -> bool:
    """:func:`is_id`, remembering the ids that passed: the same users and posts recur in event after event, and
    a set lookup costs ~0.1 µs where the pattern costs ~0.4 µs (a like carries four ids, checked by every
    processor that reads it). For ids that recur; an id seen once (an event id) is cheaper checked by
    :func:`is_id` than remembered. Only plain ``str`` instances are remembered, so no subclass's own equality
    can answer for another value."""
    if value.__class__ is str and value in _RECURRING:
        return True
    if not is_id(value):
        return False
    if value.__class__ is str:
        if len(_RECURRING) >= RECURRING_MAX:
            _RECURRING.clear()
        _RECURRING.add(value)
    return True


def deterministic_id(namespace: str, *parts: str) -> str:
    """A stable UUID derived from its inputs, so re-deriving an event never creates a second identity.

    The standard UUIDv5 (``uuid.uuid5`` gives the same text: ``tests/unit/test_ids.py``), computed by
    ``uuid_utils`` (Rust): 4.3 → 1.7 µs, and the extractor derives one per post and tag."""
    return str(uuid_utils.uuid5(uuid_utils.NAMESPACE_URL, "photostream:" + namespace + ":" + "\x1f".join(parts)))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def message_id_time_ms(value: str) -> int | None:
    """The creation time of a canonical UUIDv7 (:func:`id_time_ms`), None for anything else (UUIDv7s are the
    only ids whose text order is time order: messages, posts and comments are listed by their ids), in one pattern
    match: every time-ordered id is checked with it, for being a UUIDv7 and for being made no more than
    :data:`MESSAGE_ID_SKEW_MS` after its event (a clock gone wrong: :mod:`photostream.domain.unread` says what
    such an id did to a badge). The SDK checks one per message, post and comment it makes, the unread
    processor one per record."""
    if isinstance(value, str) and _CANONICAL_V7.fullmatch(value) is not None:
        return int(value[:8] + value[9:13], 16)
    return None


def id_time_ms(value: str) -> int:
    """The creation time a canonical UUIDv7 carries (its first 48 bits: Unix milliseconds)."""
    return int(value[:8] + value[9:13], 16)


def last_id_at(ms: int) -> str:
    """The greatest UUIDv7 of millisecond ``ms``: every id made then or before sorts at or below it."""
    stamp = f"{ms:012x}"
    return f"{stamp[:8]}-{stamp[8:]}-7fff-bfff-ffffffffffff"


#: how much later than its event a message id's own time may be (the messaging service's and the producer's
#: clocks differ a little; a message is always made before it goes unsent or is read)
MESSAGE_ID_SKEW_MS = 5 * 60 * 1000
