"""A tag's views are a pure function of its absolute state: top N, related, trending buckets, candidates."""

from photostream.domain.hashtag_views import (
    ACTIVE_SPAN_MS,
    Member,
    TagView,
    bucket_expiry,
    derive,
    differences,
    readable_buckets,
    top_posts,
    trend_buckets,
)
from photostream.domain.scoring import ScoreWeights, popularity
from photostream.domain.trending import WINDOWS

HOUR = 3_600_000
NOW = 1_000 * 24 * HOUR  # a day boundary, far from epoch
W = ScoreWeights()


def member(post_id: str, author: str = "a1", at: int = NOW - HOUR, present: bool = True) -> Member:
    return Member(post_id, author, at, present)


def test_only_present_posts_are_ranked_scored_with_their_engagement():
    view = derive("t", 2, [member("p1"), member("p2"), member("p3", present=False)], {}, {"p2": (5, 1)}, W, 10, NOW)
    assert view.top == {"p1": popularity(0, 0, NOW - HOUR, W), "p2": popularity(5, 1, NOW - HOUR, W)}


def test_top_keeps_the_n_highest_and_breaks_ties_like_redis():
    assert top_posts({"a": 1.0, "b": 3.0, "c": 2.0}, 2) == {"b": 3.0, "c": 2.0}
    # equal scores: Redis orders by member, so trimming the lowest ranks drops the smaller member first
    assert top_posts({"a": 1.0, "b": 1.0, "c": 1.0}, 2) == {"b": 1.0, "c": 1.0}
    assert top_posts({"a": 1.0}, 0) == {}


def test_related_keeps_positive_counts_only():
    assert derive("t", 0, [], {"x": 2, "y": 0, "z": -1}, {}, W, 10, NOW).related == {"x": 2}


def test_trending_counts_distinct_authors_of_present_posts_per_bucket():
    members = [member("p1", "a1"), member("p2", "a1"), member("p3", "a2"), member("p4", "a3", present=False)]
    view = derive("t", 3, members, {}, {}, W, 10, NOW)
    five_min, hourly = WINDOWS["1h"].bucket_ms, WINDOWS["24h"].bucket_ms
    assert view.trend == {(five_min, NOW - HOUR): {"a1", "a2"}, (hourly, NOW - HOUR): {"a1", "a2"}}
    assert view.active == NOW - HOUR


def test_buckets_no_reader_can_see_are_left_out_and_expire_at_a_fixed_time():
    old = NOW - 30 * 24 * HOUR
    assert trend_buckets(old, NOW) == []
    assert derive("t", 1, [member("p1", at=old)], {}, {}, W, 10, NOW).active is None  # no trending candidate
    window = WINDOWS["1h"]
    assert bucket_expiry(window, 0) == window.span_ms + window.baseline_span_ms
    readable = readable_buckets(NOW)
    assert all(bucket_expiry(w, start) > NOW for w, start in readable)
    assert (window, NOW) in readable and (window, NOW - window.span_ms - window.baseline_span_ms) not in readable


def test_a_candidate_is_only_as_recent_as_its_newest_present_post():
    view = derive("t", 1, [member("p1", at=NOW - 2 * HOUR), member("p2", at=NOW - HOUR, present=False)], {}, {},
                  W, 10, NOW)
    assert view.active == NOW - 2 * HOUR
    assert derive("t", 1, [member("p1", at=NOW - ACTIVE_SPAN_MS)], {}, {}, W, 10, NOW).active is None


def test_differences_name_each_view_that_departs():
    want = derive("t", 2, [member("p1"), member("p2", "a2")], {"x": 1}, {}, W, 10, NOW)
    assert differences(want, want) == []
    live = TagView("t", 1, {"x": 1}, {"p1": want.top["p1"]}, dict(want.trend), want.active)
    found = differences(want, live)
    assert any("post_count" in f for f in found) and any(" top:" in f for f in found)
    assert len(found) == 2
    assert differences(want, TagView("t", -1, {}, {}, {}, None))[0].startswith("#t post_count: live missing")
