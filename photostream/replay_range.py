"""Where a replay starts and stops in each partition: parsing ``--from``/``--to`` and resolving them to offsets.

Pure functions (no broker): the broker-facing part hands in each partition's watermarks and, for a time, the
offset Kafka's offsets-for-times lookup returned. Ranges are half-open: ``[start, stop)``. A time means "the
first record whose timestamp is at or after it", so ``--from T1 --to T2`` exports records with
``T1 <= timestamp < T2``; an offset is clamped to what the partition still holds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

PointKind = Literal["earliest", "latest", "offset", "time"]


class RangeError(ValueError):
    """A ``--from``/``--to`` value that is neither earliest/latest, an offset nor an ISO-8601 time."""


@dataclass(frozen=True)
class Point:
    """One end of a replay: ``value`` is an offset, or epoch milliseconds for a time."""

    kind: PointKind
    value: int = 0


@dataclass(frozen=True)
class PartitionRange:
    partition: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        """Offsets in the range (records may be fewer: compaction and transaction markers leave gaps)."""
        return max(0, self.stop - self.start)


_OFFSET = re.compile(r"\d+")


def parse_point(text: str) -> Point:
    """``earliest`` | ``latest`` (also ``end``, ``now`` for ``--to``) | an offset | an ISO-8601 time.

    A time without a zone is UTC; a bare date is its midnight UTC."""
    value = text.strip()
    lowered = value.lower()
    if lowered in ("earliest", "beginning"):
        return Point("earliest")
    if lowered in ("latest", "end", "now"):
        return Point("latest")
    if _OFFSET.fullmatch(value):
        return Point("offset", int(value))
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise RangeError(f"{text!r} is not earliest, latest, an offset or an ISO-8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # a time before 1970 is before every record: the start (negative times are Kafka's own markers for the end
    # and the start, and a broker refused some outright)
    return Point("time", max(0, int(moment.timestamp() * 1000)))


def reversed_range(start: Point, stop: Point) -> bool:
    """Whether ``[start, stop)`` is written backwards, whatever the topic holds: from the end to the beginning,
    or two offsets or two times out of order. Anything else is resolved per partition, where an end before the
    start exports nothing: ``--from latest --to <a time to come>`` is a script's empty window, and was refused
    as reversed. (Equal ends are an empty export too. An offset and a time cannot be compared before the broker
    is asked.)"""
    if stop.kind == "earliest":  # before everything: from anywhere but the start (offset 0 is the start)
        return start.kind in ("latest", "time") or (start.kind == "offset" and start.value > 0)
    return start.kind == stop.kind and start.kind in ("offset", "time") and start.value > stop.value


def resolve(point: Point, low: int, high: int, looked_up: int | None = None) -> int:
    """The offset ``point`` names in a partition holding ``[low, high)``.

    ``looked_up`` is the offsets-for-times answer for a time point (negative or None: no record at or after
    that time, i.e. the end)."""
    if point.kind == "earliest":
        return low
    if point.kind == "latest":
        return high
    if point.kind == "offset":
        return min(max(point.value, low), high)
    if looked_up is None or looked_up < 0:
        return high
    return min(max(looked_up, low), high)


def partition_range(partition: int, start: Point, stop: Point, low: int, high: int,
                    start_lookup: int | None = None, stop_lookup: int | None = None) -> PartitionRange:
    """Both ends resolved; an end before the start gives an empty range, never a negative one."""
    first = resolve(start, low, high, start_lookup)
    last = resolve(stop, low, high, stop_lookup)
    return PartitionRange(partition, first, max(first, last))
