"""Ranking "Suggested for you" (photostream/domain/suggestions.py)."""

from __future__ import annotations

from photostream.domain.suggestions import rank


def test_accounts_followed_by_more_of_the_users_followees_come_first_then_followers_unanswered() -> None:
    followed = {"a": ["x", "y", "me", "b"], "b": ["x", "z"]}
    found = rank("me", followed, followers=["w", "a", "x"], excluded={"a", "b", "z"}, limit=10)
    assert [(s.user_id, s.mutuals, s.follows_you, s.score) for s in found] == [
        ("x", ("a", "b"), True, 3),  # two followees follow x, and x follows the user
        ("y", ("a",), False, 1),  # one followee (ties with w: mutuals first)
        ("w", (), True, 1),
    ]


def test_the_user_and_the_excluded_are_never_suggested_and_the_limit_holds() -> None:
    followed = {"a": [f"u{i}" for i in range(30)] + ["me"]}
    found = rank("me", followed, followers=[], excluded={"u0"}, limit=5)
    assert [s.user_id for s in found] == ["u1", "u10", "u11", "u12", "u13"]
