"""The cached row factory returns what the driver's default does and builds each Row class once; conditional
statements' outcome is read without the driver's factory check."""

from __future__ import annotations

from typing import Any

import pytest
from cassandra.query import named_tuple_factory

from sinks.cassandra import applied, cached_named_tuple_factory


def test_rows_equal_the_drivers_and_share_one_class() -> None:
    columns = ["post_id", "like_count", "select"]  # a keyword: the driver renames it; so must we
    first = cached_named_tuple_factory(columns, [("p1", 3, 1), ("p2", 0, 2)])
    second = cached_named_tuple_factory(list(columns), [("p3", 1, 0)])
    reference = named_tuple_factory(columns, [("p1", 3, 1), ("p2", 0, 2)])
    assert [tuple(r) for r in first] == [tuple(r) for r in reference]
    assert first[0]._fields == reference[0]._fields
    assert first[1].like_count == 0 and second[0].post_id == "p3"
    assert type(first[0]) is type(second[0])  # built once, reused


def test_no_rows_no_class() -> None:
    assert cached_named_tuple_factory(["a"], []) == []


class _Result:
    def __init__(self, rows: list[Any]) -> None:
        self._rows = rows

    def one(self) -> Any:
        return self._rows[0] if self._rows else None


def test_a_conditional_statement_reads_applied_from_its_row_whatever_the_factory() -> None:
    won = cached_named_tuple_factory(["[applied]"], [(True,)])
    lost = cached_named_tuple_factory(["[applied]", "username", "user_id"], [(False, "ann", "u1")])
    assert applied(_Result(won)) is True
    assert applied(_Result(lost)) is False
    with pytest.raises(RuntimeError):
        applied(_Result([]))
