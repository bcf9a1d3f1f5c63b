"""The user search: what a profile is found by, and keeping a row only while its profile holds the term, deleting
the others so that a later rename back wins (sinks/user_search.py)."""

from __future__ import annotations

from typing import Any

import pytest

from sinks import user_search
from sinks.prefix_index import prefix_of
from sinks.user_search import UserSearch, found_by, query_words, terms_of


class Session:
    def prepare(self, cql: str) -> str:
        return cql


def test_a_profile_is_found_by_its_username_and_the_folded_words_of_its_name() -> None:
    assert terms_of("zoe_s", "Zoë  Saldaña-Perdomo (she/her) J") == {"zoe_s", "zoe", "saldana", "perdomo", "she",
                                                                     "her"}
    assert terms_of(None, None) == set()


def test_a_query_is_its_folded_words_longest_first_and_each_must_start_a_term() -> None:
    assert query_words(" @Zoë SAL ") == ["zoe", "sal"]
    assert query_words("@zoe_s.") == ["zoe_s."]
    profile = {"username": "zoe_s", "display_name": "Zoë Saldaña"}
    assert found_by(["zoe", "sal"], profile) and found_by(["zoe_"], profile)
    assert not found_by(["zoe", "per"], profile)


async def test_rows_whose_profile_holds_another_term_or_none_are_left_out_and_deleted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    search = UserSearch(Session())  # type: ignore[arg-type]
    rows = [("anna", "u1"), ("annabel", "u2"), ("annie", "u3"), ("anny", "u4"), ("annika", "u1")]
    asked: list[tuple[str, int]] = []
    deleted: list[tuple[Any, tuple[Any, ...]]] = []

    async def candidates(word: str, limit: int) -> list[tuple[str, str]]:
        asked.append((word, limit))
        return rows

    async def execute_grouped(session: Any, statements: list[tuple[Any, tuple[Any, ...]]]) -> None:
        deleted.extend(statements)

    async def profiles_of(ids: list[str]) -> dict[str, dict[str, Any]]:
        assert ids == ["u1", "u2", "u3", "u4"]  # each once
        return {"u1": {"username": "anna", "display_name": "Annika", "updated_at": 5},
                "u2": {"username": "bella", "display_name": None, "updated_at": 7},
                "u4": {"username": "anny", "display_name": None, "updated_at": 9}}  # u2 renamed since; u3 gone

    monkeypatch.setattr(search, "candidates", candidates)
    monkeypatch.setattr(user_search, "execute_grouped", execute_grouped)
    found = await search.matches(["ann"], 2, profiles_of)
    assert asked == [("ann", 4)]  # twice the page, for stale rows
    assert [user for user, _ in found] == ["u1", "u4"]  # u1 once (two terms), then cut to the limit
    # the renamed one stamped with the version holding the new name, the gone one at the server's now
    assert sorted(deleted, key=lambda s: s[1][-1]) == [
        (search._d, (7_000, "an", "annabel", "u2")), (search._d_now, ("an", "annie", "u3"))]


def test_a_term_is_partitioned_by_its_first_two_characters() -> None:
    assert prefix_of("anna") == prefix_of("an") == "an"
