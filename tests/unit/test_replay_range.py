"""Replay ranges: `--from`/`--to` parsing and their resolution to per-partition offsets."""

from datetime import UTC, datetime

import pytest

from photostream.replay_range import (
    PartitionRange,
    Point,
    RangeError,
    parse_point,
    partition_range,
    resolve,
    reversed_range,
)


def _ms(*parts: int) -> int:
    return int(datetime(*parts, tzinfo=UTC).timestamp() * 1000)  # type: ignore[misc]


@pytest.mark.parametrize(("text", "expected"), [
    ("earliest", Point("earliest")),
    ("beginning", Point("earliest")),
    ("latest", Point("latest")),
    ("END", Point("latest")),
    ("now", Point("latest")),
    ("0", Point("offset", 0)),
    ("1234", Point("offset", 1234)),
    ("2026-05-01T10:00:00Z", Point("time", _ms(2026, 5, 1, 10))),
    ("2026-05-01T10:00:00z", Point("time", _ms(2026, 5, 1, 10))),
    ("2026-05-01T12:00:00+02:00", Point("time", _ms(2026, 5, 1, 10))),  # the zone is honoured
    ("2026-05-01T10:00:00", Point("time", _ms(2026, 5, 1, 10))),  # no zone: UTC
    ("2026-05-01", Point("time", _ms(2026, 5, 1))),  # a date: its midnight UTC
    ("2026-05-01T10:00:00.250Z", Point("time", _ms(2026, 5, 1, 10) + 250)),
])
def test_a_point_is_parsed(text: str, expected: Point) -> None:
    assert parse_point(text) == expected


@pytest.mark.parametrize("text", ["yesterday", "-5", "12abc", "2026-13-01", ""])
def test_anything_else_is_refused_with_the_value_named(text: str) -> None:
    with pytest.raises(RangeError, match="not earliest, latest, an offset or an ISO-8601 time"):
        parse_point(text)


# a partition holding offsets [100, 200) (older records deleted by retention)
@pytest.mark.parametrize(("point", "looked_up", "expected"), [
    (Point("earliest"), None, 100),
    (Point("latest"), None, 200),
    (Point("offset", 150), None, 150),
    (Point("offset", 5), None, 100),  # below what is kept: clamped to the first kept record
    (Point("offset", 999), None, 200),  # past the end: the end
    (Point("time", 1), 120, 120),  # offsets-for-times answered 120
    (Point("time", 1), -1, 200),  # no record at or after that time: the end
    (Point("time", 1), None, 200),
    (Point("time", 1), 50, 100),  # a stale answer below the low watermark is clamped
])
def test_a_point_resolves_to_an_offset_within_the_partition(point: Point, looked_up: int | None,
                                                            expected: int) -> None:
    assert resolve(point, 100, 200, looked_up) == expected


def test_a_time_range_is_half_open_between_the_looked_up_offsets() -> None:
    assert partition_range(2, Point("time", 10), Point("time", 20), 0, 500, 40, 90) == PartitionRange(2, 40, 90)
    assert partition_range(2, Point("time", 10), Point("time", 20), 0, 500, 40, 90).size == 50


def test_a_stop_before_the_start_gives_an_empty_range() -> None:
    r = partition_range(0, Point("offset", 300), Point("offset", 100), 0, 500)
    assert (r.start, r.stop, r.size) == (300, 300, 0)


def test_an_empty_partition_gives_an_empty_range_whatever_is_asked() -> None:
    r = partition_range(1, Point("earliest"), Point("latest"), 7, 7)
    assert r.size == 0


def test_a_time_range_after_the_last_record_is_empty() -> None:
    assert partition_range(0, Point("time", 10), Point("latest"), 0, 500, -1, None).size == 0


@pytest.mark.parametrize(("start", "stop", "reversed_"), [
    ("latest", "earliest", True),  # was accepted, and read every partition to export nothing
    ("latest", "2030-01-01", False),  # a script's empty window (resolved per partition: nothing to export)
    ("0", "earliest", False),
    ("10", "earliest", True),
    ("2026-01-01", "earliest", True),
    ("10", "5", True),
    ("2026-02-01", "2026-01-01", True),
    ("10", "10", False),  # equal ends: an empty export (a script's empty window), not an error
    ("latest", "latest", False),
    ("earliest", "earliest", False),
    ("earliest", "latest", False),
    ("10", "11", False),
    ("10", "2026-01-01", False),  # an offset and a time: only the broker can tell
])
def test_a_range_reversed_in_every_partition_is_known_before_the_broker_is_asked(start: str, stop: str,
                                                                                  reversed_: bool) -> None:
    assert reversed_range(parse_point(start), parse_point(stop)) is reversed_
