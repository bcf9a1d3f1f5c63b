"""Pure feed and graph rules: last-writer-wins follow pairs, exact count deltas, tiering with hysteresis,
newest-first merging, and what a feed holds."""

from __future__ import annotations

import pytest

from photostream.domain.feeds import delivery_tier, merge_newest
from photostream.domain.follows import PairState, apply_change, count_delta
from photostream.rebuild_feeds import is_live_prefix
from sinks.feeds import DeliveredPost, in_pull_set, pushed_live, shown_in_feed_of


@pytest.mark.parametrize(("before", "follow", "at", "after"), [
    (None, True, 5, PairState(True, 5, "", 5000)),
    (PairState(True, 5, "", 5000), False, 4, PairState(True, 5, "", 5000)),  # an older unfollow arriving late loses
    (PairState(True, 5, "", 5000), False, 6, PairState(False, 6, "", 6000)),
    # a pair stored before event ids were kept: a tie is "not following" (as a CQL DELETE)
    (PairState(False, 6), True, 6, PairState(False, 6)),
    (PairState(True, 6), False, 6, PairState(False, 6, "", 6001)),
    (PairState(True, 5, "", 5000), True, 5, PairState(True, 5, "", 5000)),  # a duplicate changes nothing
])
def test_the_newest_event_of_a_pair_wins(before: PairState | None, follow: bool, at: int,
                                         after: PairState) -> None:
    assert apply_change(before, follow, at) == after


V7 = "0190a0b0-0000-7000-8000-00000000000{}".format


def test_a_tie_of_one_millisecond_goes_to_the_later_event_id_and_the_edges_follow() -> None:
    """An unfollow then a follow of one millisecond (UUIDv7s in the order one producer made them) leave the pair
    following; a copy of the unfollow arriving later loses; each change raises the edges' cell timestamp, so
    the edge rows written from the newer state win in Cassandra even at the same millisecond."""
    unfollowed = apply_change(PairState(True, 5, V7(1), 5000), False, 9, V7(2))
    assert unfollowed == PairState(False, 9, V7(2), 9000)
    followed = apply_change(unfollowed, True, 9, V7(3))
    assert followed == PairState(True, 9, V7(3), 9001)
    assert apply_change(followed, False, 9, V7(2)) == followed  # the earlier change, re-sent
    assert apply_change(followed, True, 9, V7(3)) == followed  # a duplicate
    assert apply_change(followed, False, 10, V7(0)) == PairState(False, 10, V7(0), 10000)  # time first


def test_a_tie_with_the_unfollow_a_block_implies_is_not_following_whatever_the_ids() -> None:
    """The unfollow a block implies carries an id derived from the block (UUIDv5): its order means nothing, so
    a follow of the block's millisecond must not win the tie by the hash's chance."""
    derived = "00000000-0000-5000-8000-000000000000"  # sorts below every UUIDv7
    followed = PairState(True, 9, V7(3), 9000)
    assert apply_change(followed, False, 9, derived) == PairState(False, 9, derived, 9001)
    assert apply_change(PairState(False, 9, derived, 9001), True, 9, V7(4)) == PairState(False, 9, derived, 9001)


def test_counts_move_only_on_real_transitions() -> None:
    assert count_delta(None, PairState(True, 1)) == 1
    assert count_delta(PairState(True, 1), PairState(True, 2)) == 0
    assert count_delta(PairState(True, 1), PairState(False, 2)) == -1
    assert count_delta(None, PairState(False, 1)) == 0


@pytest.mark.parametrize(("followers", "previous", "tier"), [
    (10, None, "push"), (11, "push", "pull"), (9, "pull", "pull"), (8, "pull", "pull"), (7, "pull", "push"),
    (9, "push", "push"), (9, None, "push"),
])
def test_tiering_has_hysteresis(followers: int, previous: str | None, tier: str) -> None:
    assert delivery_tier(followers, previous, threshold=10, low_mark=8) == tier  # type: ignore[arg-type]


def test_merging_is_newest_first_without_duplicates() -> None:
    assert merge_newest([["e", "c", "a"], ["d", "c", "b"], []], 4) == ["e", "d", "c", "b"]
    assert merge_newest([], 3) == []


def post(author: str, visibility: str = "public", delivery: str = "push") -> DeliveredPost:
    return DeliveredPost(author, f"{author}-{visibility}-{delivery}", visibility, delivery, False)  # type: ignore[arg-type]


def test_what_a_feed_holds() -> None:
    assert shown_in_feed_of("me", post("me", "private", "pull"), pushed_only=True)
    assert not shown_in_feed_of("fan", post("a", "private"), pushed_only=False)
    assert shown_in_feed_of("fan", post("a", "followers"), pushed_only=True)
    assert not shown_in_feed_of("fan", post("a", delivery="pull"), pushed_only=True)
    assert shown_in_feed_of("fan", post("a", delivery="pull"), pushed_only=False)
    assert [p.post_id for p in [post("a", delivery="pull"), post("a"), post("a", "private", "pull")]
            if in_pull_set(p)] == ["a-public-pull"]
    assert [pushed_live(p) for p in [post("a"), post("a", "private"), post("a", delivery="pull")]] == \
        [True, False, False]


def test_a_live_feed_equals_durable_state_when_it_is_its_prefix() -> None:
    assert is_live_prefix(["c", "b"], ["c", "b", "a"], complete=True)
    assert not is_live_prefix(["c", "a"], ["c", "b", "a"], complete=True)
    assert is_live_prefix([], ["a"], complete=True)
    # past a derivation that is not the whole history (full to the cap, or cut), the live list may go on
    assert is_live_prefix(["c", "b", "a"], ["c", "b"], complete=False)
    assert not is_live_prefix(["c", "b", "a"], ["c", "b"], complete=True)


def test_a_live_feed_readers_take_as_whole_must_be_the_whole_history() -> None:
    """A list marked whole that is only a prefix hides the rest from every reader (they do not page on into
    Cassandra below it): a rebuild written at exactly the cap, then shortened by an unfollow, said "0 differences"."""
    assert not is_live_prefix(["c", "b"], ["c", "b", "a"], complete=True, live_cut=False)
    assert not is_live_prefix(["c", "b"], ["c", "b"], complete=False, live_cut=False)
    assert is_live_prefix(["c", "b"], ["c", "b"], complete=True, live_cut=False)
    assert is_live_prefix(["c", "b"], ["c", "b", "a"], complete=True, live_cut=True)
    # a derivation cut at a floor (an author's read ran out of its page budget on posts the feed skips) proves
    # nothing below it: a whole live list may hold more there (it was "differs", and the repair emptied it)
    assert is_live_prefix(["a"], [], complete=False, live_cut=False, floor="b")
    assert is_live_prefix(["c", "a"], ["c"], complete=False, live_cut=False, floor="b")
    assert not is_live_prefix(["a"], ["c"], complete=False, live_cut=False, floor="b")
    assert not is_live_prefix(["d"], ["d", "c"], complete=False, live_cut=False)  # full to the cap: more below
