"""The username search keeps a row only while its profile holds the name, and deletes the others so that a later
rename back to the name wins (sinks/user_search.py)."""

from __future__ import annotations

from typing import Any

import pytest

from sinks import user_search
from sinks.prefix_index import prefix_of
from sinks.user_search import UserSearch


class Session:
    def prepare(self, cql: str) -> str:
        return cql


async def test_rows_whose_profile_holds_another_name_or_none_are_left_out_and_deleted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    search = UserSearch(Session())  # type: ignore[arg-type]
    rows = [("anna", "u1"), ("annabel", "u2"), ("annie", "u3"), ("anny", "u4")]
    asked: list[tuple[str, int]] = []
    deleted: list[tuple[Any, tuple[Any, ...]]] = []

    async def candidates(query: str, limit: int) -> list[tuple[str, str]]:
        asked.append((query, limit))
        return rows

    async def execute_grouped(session: Any, statements: list[tuple[Any, tuple[Any, ...]]]) -> None:
        deleted.extend(statements)

    async def profiles_of(ids: list[str]) -> dict[str, dict[str, Any]]:
        assert ids == ["u1", "u2", "u3", "u4"]
        return {"u1": {"username": "anna", "updated_at": 5}, "u2": {"username": "bella", "updated_at": 7},
                "u4": {"username": "anny", "updated_at": 9}}  # u2 renamed since; u3 gone

    monkeypatch.setattr(search, "candidates", candidates)
    monkeypatch.setattr(user_search, "execute_grouped", execute_grouped)
    found = await search.matches("ann", 1, profiles_of)
    assert asked == [("ann", 2)]  # twice the page, for stale rows
    assert [user for user, _ in found] == ["u1"]  # the page, cut to its limit after the stale rows left
    # the renamed one stamped with the version holding the new name, the gone one at the server's now
    assert sorted(deleted, key=lambda s: s[1][-1]) == [
        (search._d, (7_000, "an", "annabel", "u2")), (search._d_now, ("an", "annie", "u3"))]


def test_a_name_is_partitioned_by_its_first_two_characters() -> None:
    assert prefix_of("anna") == prefix_of("an") == "an"
