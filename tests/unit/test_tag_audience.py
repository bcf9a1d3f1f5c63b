"""Private accounts' posts leave every tag and come back (pure parts: extraction and the tally)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from photostream.domain.extraction import on_audience_changed, on_post_created, on_post_deleted
from photostream.domain.tally import TagState, apply

WINDOW = 10_000
CREATED = {"post_id": "p1", "author_id": "a1", "caption": "sun #beach #sea", "visibility": "public",
           "occurred_at": 1_000, "event_id": "e0"}


def profile(at: int, private: bool) -> dict[str, Any]:
    return {"event_id": f"profile-{at}", "user_id": "a1", "occurred_at": at, "is_private": private}


def events_for_beach() -> dict[str, dict[str, Any]]:
    post, adds = on_post_created(CREATED)
    hide = on_audience_changed(post, profile(2_000, True))
    show = on_audience_changed(post, profile(3_000, False))
    delete = on_post_deleted(post, {"occurred_at": 4_000})
    pick = {e["hashtag"]: e for e in adds}
    return {"add": pick["beach"], "hide": next(e for e in hide if e["hashtag"] == "beach"),
            "show": next(e for e in show if e["hashtag"] == "beach"),
            "delete": next(e for e in delete if e["hashtag"] == "beach")}


def tally(sequence: list[dict[str, Any]]) -> TagState:
    state = TagState("beach")
    for event in sequence:
        apply(state, event, WINDOW)
    return state


def test_a_private_authors_post_is_remembered_but_announced_to_no_tag() -> None:
    post, adds = on_post_created(CREATED, author_private=True)
    assert post["tags"] == ["beach", "sea"] and adds == []


def test_hide_and_show_events_name_the_profile_change() -> None:
    e = events_for_beach()
    assert (e["hide"]["action"], e["hide"]["cause"], e["hide"]["as_of"]) == ("retract", "audience", 2_000)
    assert (e["show"]["action"], e["show"]["cause"], e["show"]["as_of"]) == ("add", "audience", 3_000)
    assert len({e["add"]["event_id"], e["hide"]["event_id"], e["show"]["event_id"]}) == 3


@pytest.mark.parametrize("order", list(itertools.permutations(["add", "hide", "show"])))
def test_any_arrival_order_ends_where_the_latest_privacy_change_says(order: tuple[str, ...]) -> None:
    e = events_for_beach()
    state = tally([e[name] for name in order])
    assert state.post_count == 1  # shown at 3,000 (the latest change), whatever came first
    assert sum(state.windows.values()) == 1 and state.related == {"sea": 1}


@pytest.mark.parametrize("order", list(itertools.permutations(["add", "hide"])))
def test_hidden_posts_count_nowhere(order: tuple[str, ...]) -> None:
    e = events_for_beach()
    state = tally([e[name] for name in order])
    assert state.post_count == 0 and sum(state.windows.values()) == 0 and state.related.get("sea", 0) == 0
    assert state.members["p1"] is True and state.audience["p1"] == (True, 2_000)


def test_duplicates_and_replays_change_nothing() -> None:
    e = events_for_beach()
    once = tally([e["add"], e["hide"], e["show"]])
    again = tally([e["add"], e["hide"], e["show"], e["hide"], e["add"], e["show"], e["hide"]])
    assert (once.post_count, once.windows, once.related) == (again.post_count, again.windows, again.related)


def test_a_delete_is_final_even_for_a_hidden_post() -> None:
    e = events_for_beach()
    assert tally([e["add"], e["hide"], e["delete"], e["show"]]).post_count == 0
    assert tally([e["add"], e["delete"], e["hide"], e["show"]]).post_count == 0
