"""Pure parts of the hashtag pipeline: extraction events, tallies, windows, scores, trending."""

import pytest

from photostream.domain.extraction import on_post_created, on_post_deleted
from photostream.domain.scoring import popularity
from photostream.domain.tally import TagState, apply, top_related
from photostream.domain.trending import WINDOWS, rank, velocity
from photostream.domain.windows import bucket_starts, tumbling_start

WINDOW = 10_000


def created(post_id="p1", caption="#Sunset #sunset #sea", at=1_000_000):
    return {"post_id": post_id, "author_id": "a1", "caption": caption, "occurred_at": at}


def test_extraction_emits_one_add_per_distinct_tag_with_deterministic_ids():
    post, adds = on_post_created(created())
    assert [e["hashtag"] for e in adds] == ["sunset", "sea"]
    assert all(e["post_tags"] == ["sunset", "sea"] and e["action"] == "add" for e in adds)
    _, again = on_post_created(created())
    assert [e["event_id"] for e in adds] == [e["event_id"] for e in again]
    retracts = on_post_deleted(post, {"occurred_at": 2_000_000})
    assert [e["action"] for e in retracts] == ["retract", "retract"]
    assert {e["event_id"] for e in retracts}.isdisjoint({e["event_id"] for e in adds})


def events_for(tag="sunset", post_id="p1", action="add", at=1_000_000, tags=("sunset", "sea")):
    return {"post_id": post_id, "author_id": "a1", "hashtag": tag, "action": action, "post_created_at": at,
            "post_tags": list(tags)}


def test_duplicates_do_not_count_twice():
    state = TagState("sunset")
    assert apply(state, events_for(), WINDOW)
    assert not apply(state, events_for(), WINDOW)
    assert state.post_count == 1 and state.windows == {1_000_000: 1} and state.related == {"sea": 1}


def test_retract_undoes_and_is_final():
    state = TagState("sunset")
    apply(state, events_for(), WINDOW)
    assert apply(state, events_for(action="retract"), WINDOW)
    assert state.post_count == 0 and state.windows[1_000_000] == 0 and state.related["sea"] == 0
    assert not apply(state, events_for(), WINDOW)  # a stale add after the retract
    assert not apply(state, events_for(action="retract"), WINDOW)
    assert state.post_count == 0


def test_a_retracted_post_keeps_no_author():
    """The row outlives the post: it named the author of a deleted post (a deleted account's too) for good."""
    state = TagState("sunset")
    apply(state, events_for(), WINDOW)
    assert state.changed_members["p1"]["author_id"] is not None
    apply(state, events_for(action="retract"), WINDOW)
    assert state.changed_members["p1"]["author_id"] is None and state.changed_members["p1"]["present"] is False


def test_a_retract_before_its_add_is_remembered():
    state = TagState("sunset")
    assert not apply(state, events_for(action="retract"), WINDOW)
    assert not apply(state, events_for(), WINDOW)
    assert state.post_count == 0 and state.changed_members["p1"]["present"] is False


def test_replaying_a_loaded_state_changes_nothing():
    state = TagState("sunset", post_count=1, members={"p1": True}, windows={1_000_000: 1})
    assert not apply(state, events_for(), WINDOW)
    assert not state.dirty


def test_windows_are_by_post_time():
    state = TagState("sunset")
    apply(state, events_for(post_id="p1", at=1_000_001), WINDOW)
    apply(state, events_for(post_id="p2", at=1_009_999), WINDOW)
    apply(state, events_for(post_id="p3", at=1_010_000), WINDOW)
    assert state.windows == {1_000_000: 2, 1_010_000: 1}


def test_window_arithmetic():
    assert tumbling_start(12_345, 10_000) == 10_000
    assert bucket_starts(3_600_000 * 2 + 5, 3_600_000, 300_000)[:2] == [7_200_000, 6_900_000]
    assert len(bucket_starts(0, 3_600_000, 300_000)) == 12


def test_top_related_orders_by_count_then_name():
    assert top_related({"b": 2, "a": 2, "c": 5, "d": 0}, 3) == ["c", "a", "b"]


def test_popularity_decays_with_age_and_grows_with_engagement():
    hour = 3_600_000
    assert popularity(10, 0, 0) > popularity(0, 0, 0)
    assert popularity(0, 1, 0) > popularity(1, 0, 0)  # a comment weighs more than a like
    assert popularity(5, 0, 24 * hour) > popularity(5, 0, 0)  # same engagement, newer wins
    # ranking is stable over time: the score does not depend on "now"
    assert popularity(100, 0, 0) > popularity(0, 0, 12 * hour)


@pytest.mark.parametrize(("count", "baseline", "expected"), [(10, 0, 10.0), (10, 240, 1.0), (20, 240, 2.0)])
def test_velocity_is_relative_to_the_tags_own_baseline(count, baseline, expected):
    assert velocity(count, baseline, WINDOWS["1h"]) == expected


def test_one_author_cannot_trend_a_tag():
    ranked = rank({"spam": (1, 0), "real": (5, 24), "calm": (3, 72 * 24)}, WINDOWS["1h"], min_authors=3, limit=10)
    assert [t.tag for t in ranked] == ["real", "calm"]
