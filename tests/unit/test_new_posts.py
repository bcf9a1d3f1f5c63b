"""The parked notifications of :mod:`sinks.new_posts` come back as the drafts that were parked."""

from __future__ import annotations

import pytest

from photostream.domain.notifications import Draft, Recipient
from sinks.new_posts import _draft, _encoded


@pytest.mark.parametrize("draft", [
    Draft(Recipient("author_of", "p1"), "like", "p1", "u1", True, 1_700_000_000_123),
    Draft(Recipient("author_of", "p2"), "comment", "p2", "u2", False, 1_700_000_000_456, 1_700_000_000_000),
    Draft(Recipient("author_of", "p3"), "comment", "p3", "u3", True, 1_700_000_000_789, comment_id="c3"),
])
def test_a_parked_draft_comes_back_whole(draft: Draft) -> None:
    assert _draft(_encoded(draft)) == draft


def test_a_draft_parked_before_drafts_named_their_comment_withdraws_its_actor_whole() -> None:
    old = '["author_of", "p2", "comment", "p2", "u2", false, 1700000000456, 1700000000000]'
    assert _draft(old) == Draft(Recipient("author_of", "p2"), "comment", "p2", "u2", False, 1_700_000_000_456,
                                1_700_000_000_000, None)


def test_only_posts_created_within_the_notes_lifetime_are_noted() -> None:
    from producers.ids import now_ms
    from sinks.keys import NEW_POST_TTL_S
    from sinks.new_posts import recent

    assert recent(now_ms()) and recent(now_ms() - NEW_POST_TTL_S * 1000 + 60_000)
    assert not recent(now_ms() - NEW_POST_TTL_S * 1000 - 60_000)  # (a replay's)
