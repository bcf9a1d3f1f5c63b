"""The simulator's pure parts: the follow graph, the action mix, the client-side limits, the Kafka arithmetic."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from photostream.settings import Settings
from photostream.simulate import content
from photostream.simulate.budgets import Rate, ReadPacer, UserBudgets
from photostream.simulate.graph import GraphError, power_law_graph
from photostream.simulate.mix import DEFAULT_WEIGHTS, ActionMix, parse_mix
from photostream.simulate.observe import Reading, rates, remaining
from photostream.simulate.runner import Behind
from photostream.simulate.stats import percentile


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the follow graph -------------------------------------------------------------------------------------
def test_a_graph_has_no_self_follows_and_no_repeated_pairs() -> None:
    graph = power_law_graph(500, threshold=50, seed=3)
    assert all(a != b for a, b in graph.edges)
    assert len(set(graph.edges)) == len(graph.edges)


def test_the_same_seed_gives_the_same_graph_and_another_seed_another() -> None:
    assert power_law_graph(300, threshold=20, seed=7) == power_law_graph(300, threshold=20, seed=7)
    assert power_law_graph(300, threshold=20, seed=7) != power_law_graph(300, threshold=20, seed=8)


def test_followers_follow_a_power_law_few_accounts_hold_most_follows() -> None:
    graph = power_law_graph(2000, threshold=100_000, celebrities=0, seed=1)
    counts = sorted(graph.follower_counts(), reverse=True)
    assert 8 <= len(graph.edges) / 2000 <= 12  # about ten follows each
    assert sum(counts[:20]) > 0.3 * len(graph.edges)  # the top 1% of accounts hold over 30% of the follows
    assert counts[1000] <= 3  # while the median account has almost nobody
    assert counts[0] > 2 * counts[3] > 0  # and popularity falls off with rank


@pytest.mark.parametrize(("users", "threshold", "celebrities"), [(10_000, 1000, 3), (300, 150, 4), (200, 3, 3),
                                                                  (40, 30, 2)])
def test_the_top_ranks_cross_the_celebrity_threshold(users: int, threshold: int, celebrities: int) -> None:
    graph = power_law_graph(users, threshold=threshold, celebrities=celebrities, seed=5)
    above = graph.above(threshold)
    assert set(range(celebrities)) <= set(above)
    assert all(graph.follower_counts()[u] > threshold for u in above)


def test_a_high_threshold_is_topped_up_where_the_draw_alone_would_not_reach_it() -> None:
    plain = power_law_graph(400, threshold=300, celebrities=0, seed=2)
    assert plain.above(300) == []
    assert power_law_graph(400, threshold=300, celebrities=2, seed=2).above(300)[:2] in ([0, 1], [1, 0])


def test_too_few_users_for_a_celebrity_is_refused_with_the_reason() -> None:
    with pytest.raises(GraphError, match="at least 1002"):
        power_law_graph(1000, threshold=1000, seed=1)


# --- the action mix ---------------------------------------------------------------------------------------
def test_the_mix_draws_kinds_in_proportion_to_their_weights() -> None:
    rng = random.Random(4)
    drawn = Counter(ActionMix().pick(rng, have_posts=True) for _ in range(20_000))
    for kind, weight in DEFAULT_WEIGHTS.items():
        assert drawn[kind] / 20_000 == pytest.approx(weight, abs=0.02)


def test_likes_and_comments_wait_for_a_post_to_exist() -> None:
    rng = random.Random(4)
    drawn = Counter(ActionMix().pick(rng, have_posts=False) for _ in range(2000))
    assert drawn["like"] == drawn["comment"] == 0
    assert drawn["post"] > 0
    assert ActionMix({"like": 1.0}).pick(rng, have_posts=False) is None


def test_a_mix_is_parsed_from_the_command_line_and_bad_ones_are_refused() -> None:
    mix = parse_mix("post=1, like=3")
    assert dict(mix.weights) == {"post": 1.0, "like": 3.0}
    assert parse_mix("") == ActionMix()
    for bad in ("shout=1", "post=lots", "post=0", "post=-1,like=2"):
        with pytest.raises(ValueError):
            parse_mix(bad)


def test_captions_carry_one_to_three_distinct_tags_mostly_hot_ones() -> None:
    rng = random.Random(9)
    tags = [content.hashtags(rng) for _ in range(3000)]
    assert all(1 <= len(t) <= 3 and len(set(t)) == len(t) for t in tags)
    hot = sum(tag in content.HOT_TAGS for t in tags for tag in t) / sum(len(t) for t in tags)
    assert hot > 0.5
    assert "#" in content.caption(rng)


# --- staying under the API's limits -----------------------------------------------------------------------
def test_a_user_posts_only_while_their_post_and_upload_buckets_have_tokens() -> None:
    clock = Clock()
    budgets = UserBudgets({"post": Rate(6, 2), "upload": Rate(60, 10), "write": Rate(60, 10)}, clock)
    assert [budgets.take("u1", "post") for _ in range(3)] == [True, True, False]
    assert budgets.take("u2", "post")  # another user has their own bucket
    assert budgets.take("u1", "like")  # and other actions spend from another bucket
    clock.now += 60 / (6 * 0.8)  # one token back at 80% of the API's rate
    assert budgets.take("u1", "post")
    assert not budgets.take("u1", "post")


def test_a_429_empties_the_users_bucket() -> None:
    clock = Clock()
    budgets = UserBudgets({"post": Rate(6, 2), "upload": Rate(60, 10), "write": Rate(60, 10)}, clock)
    budgets.back_off("u1", "like")
    assert not budgets.take("u1", "comment")
    assert budgets.take("u1", "message")  # an SDK event spends nothing


def test_reads_are_paced_below_the_per_address_limit() -> None:
    clock = Clock()
    pacer = ReadPacer(Settings(rate_limit_reads_per_second=50, rate_limit_reads_burst=200), share=0.4, clock=clock)
    delays = [pacer.delay() for _ in range(40)]
    assert delays[:20] == [0.0] * 20  # a burst of 20 (= one second at 40% of 50/s)
    assert delays[20] == pytest.approx(1 / 20)
    assert delays[-1] == pytest.approx(20 / 20)  # the rest wait their turn at 20/s
    assert ReadPacer(Settings(rate_limit_reads_per_second=0), clock=clock).delay() == 0.0


# --- Kafka arithmetic -------------------------------------------------------------------------------------
def test_events_per_second_are_end_offset_deltas_per_topic() -> None:
    before = Reading(10.0, {("like-changed", 0): 100, ("like-changed", 1): 50, ("post-created", 0): 7}, {})
    after = Reading(12.0, {("like-changed", 0): 120, ("like-changed", 1): 70, ("post-created", 0): 7}, {})
    assert rates(before, after) == {"like-changed": 20.0, "post-created": 0.0}


def test_the_graph_counts_as_applied_once_every_reading_group_committed_past_it() -> None:
    targets = {("follow-changed", 0): 100, ("follow-changed", 1): 40}
    groups = {"app.feeds": ("follow-changed", "post-created"), "app": ("follow-changed",), "app.x": ("like-changed",)}
    reading = Reading(0.0, {}, {("app.feeds", "follow-changed", 0): 90, ("app.feeds", "follow-changed", 1): 40,
                                ("app", "follow-changed", 0): 100, ("app", "follow-changed", 1): -1001})
    assert remaining(reading, targets, groups) == 10 + 40
    done = Reading(0.0, {}, {(g, "follow-changed", p): 200 for g in groups for p in (0, 1)})
    assert remaining(done, targets, groups) == 0


def test_the_worker_is_behind_when_lag_is_high_and_growing_until_it_is_low_again() -> None:
    behind = Behind(rate=20)  # high 500, low 100
    assert [behind.update(v) for v in (600, 700, 800, 900)] == [False] * 4  # not five readings yet
    assert behind.update(1000)  # high and grown over five readings
    assert behind.update(400) and behind.peak == 1000  # still above the low mark
    assert not behind.update(90)
    steady = Behind(rate=20)
    assert not any(steady.update(v) for v in (900, 900, 900, 900, 900, 800))  # high but shrinking: not behind


def test_percentiles_are_nearest_rank() -> None:
    assert percentile(range(1, 101), 99) == 99
    assert percentile([3.0], 99) == 3.0
    assert percentile([], 99) is None


def test_the_commands_to_look_at_are_printed_whole_on_one_line_each() -> None:
    """A table folded a token's `curl` over three lines: pasted, it no longer ran."""
    from rich.console import Console

    from photostream.simulate.dashboard import links_table

    command = "curl -H 'Authorization: Bearer " + "x" * 200 + "' http://127.0.0.1:18000/api/v1/feed"
    console = Console(width=60, record=True)
    console.print(links_table([("a feed", command)]), soft_wrap=True)
    assert "  " + command in console.export_text().splitlines()


def test_a_run_whose_output_is_no_terminal_gets_plain_lines_of_progress() -> None:
    """Rich draws no live frame where the output is not a terminal (`make demo > demo.log`): such a run said
    nothing until it ended. The line says what the frame's headline says, the lag and the new dead letters."""
    from photostream.simulate.dashboard import View, status_line
    from photostream.simulate.observe import Reading
    from photostream.simulate.stats import Stats

    now = [100.0]
    stats = Stats(clock=lambda: now[0])
    now[0] = 110.0
    stats.applied(0.25)
    first = Reading(100.0, {("like-changed", 0): 10, ("like-changed.dlq", 0): 2}, {})
    latest = Reading(110.0, {("like-changed", 0): 50, ("like-changed.dlq", 0): 5},
                     {("demo.popularity", "like-changed", 0): 43, ("demo.notifications", "like-changed", 0): 50})
    view = View(stats, 20.0, 200, "demo", first=first, previous=first, latest=latest,
                notes=["the worker is behind (7 records to apply)"])
    line = status_line(view)
    assert "\n" not in line
    assert line.startswith("200 actions in 10 s (20.0/s, target 20/s) · event age p99 250 ms")
    assert "consumer lag 7 records · dead letters since start 3 · the worker is behind" in line
    assert "consumer lag" not in status_line(View(stats, 20.0, 0, "demo"))  # (before the first reading)
