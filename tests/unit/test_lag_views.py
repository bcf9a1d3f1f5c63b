"""Lag arithmetic, the exporter's metric families and the live table, from readings built by hand."""

from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console

from photostream.lag import (
    LagRow,
    LagSnapshot,
    format_table,
    is_tool_group,
    lag_rates,
    of_app,
    rows_of,
    with_uncommitted,
)
from photostream.lag_exporter import LagCollector, families
from photostream.lag_watch import render


def test_lag_counts_from_zero_when_the_group_never_committed() -> None:
    assert LagRow("g", "t", 0, -1001, 40).lag == 40
    assert LagRow("g", "t", 0, 30, 40).lag == 10


def test_rows_join_committed_offsets_to_end_offsets_sorted() -> None:
    committed = {"b": [TopicPartition("t", 1, 5)], "a": [TopicPartition("t", 0, 2), TopicPartition("gone", 0, 1)]}
    rows = rows_of(committed, {("t", 0): 10, ("t", 1): 6})
    assert rows == [LagRow("a", "t", 0, 2, 10), LagRow("b", "t", 1, 5, 6)]  # a deleted topic is left out


def test_lag_rate_is_the_change_per_second_of_partitions_seen_twice() -> None:
    before = [LagRow("g", "t", 0, 0, 100), LagRow("g", "t", 1, 0, 50)]
    after = [LagRow("g", "t", 0, 0, 130), LagRow("g", "t", 1, 50, 50), LagRow("g", "t", 2, 0, 9)]
    assert lag_rates(before, after, 2.0) == {("g", "t", 0): 15.0, ("g", "t", 1): -25.0}
    assert lag_rates(before, after, 0.0) == {}


def test_a_deployments_groups_are_its_app_ids_own_and_its_prefixed_ones() -> None:
    assert of_app("photostream-demo", "photostream-demo") and of_app("photostream-demo.feeds", "photostream-demo")
    assert not of_app("photostream-demo2.feeds", "photostream-demo")
    assert not of_app("photostream.feeds", "photostream-demo")


def test_tool_groups_are_not_reported() -> None:
    tool = "photostream-tail-0b7e7c0e-3a4d-4c5e-9f00-1a2b3c4d5e6f"
    assert is_tool_group(tool) and is_tool_group(tool.replace("tail", "replay"))
    assert is_tool_group(tool.replace("tail", "dlq"))  # `dlq summary`'s reader
    # a deployment whose namespace starts with "tail-" is not a tool: it was hidden from lag and its alerts
    assert not is_tool_group("photostream-tail-shop.feeds") and not is_tool_group("photostream-replay-x")
    assert not is_tool_group("photostream.feeds")


SNAPSHOT = LagSnapshot([LagRow("photostream.feeds", "post-created", 2, 90, 100),
                        LagRow("photostream.feeds", "post-created", 3, -1001, 7)],
                       {("post-created", 2): 100, ("post-created", 3): 7, ("post-created.dlq", 0): 4})


def test_the_exporter_exposes_lag_committed_and_end_per_group_topic_partition() -> None:
    by_name = {f.name: {tuple(s.labels.values()): s.value for s in f.samples} for f in families(SNAPSHOT)}
    assert by_name["photostream_consumer_lag"] == {("photostream.feeds", "post-created", "2"): 10,
                                                   ("photostream.feeds", "post-created", "3"): 7}
    assert by_name["photostream_consumer_committed_offset"][("photostream.feeds", "post-created", "3")] == 0
    assert by_name["photostream_consumer_end_offset"][("photostream.feeds", "post-created", "2")] == 100
    assert by_name["photostream_topic_end_offset"][("post-created.dlq", "0")] == 4


class _Reader:
    def __init__(self, fail: bool) -> None:
        self.fail, self.calls = fail, 0

    def read(self, only_group: str | None = None, *, all_topics: bool = False) -> LagSnapshot:
        self.calls += 1
        if self.fail:
            raise RuntimeError("broker down")
        return SNAPSHOT


def _scrape(reader: _Reader) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LagCollector(reader))  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def test_each_scrape_reads_once_and_reports_success() -> None:
    reader = _Reader(fail=False)
    text = _scrape(reader)
    assert reader.calls == 1
    assert 'photostream_consumer_lag{group="photostream.feeds",partition="2",topic="post-created"} 10.0' in text
    assert "photostream_lag_up 1.0" in text


def test_a_failed_reading_is_a_zero_up_gauge_not_an_error_page() -> None:
    text = _scrape(_Reader(fail=True))
    assert "photostream_lag_up 0.0" in text
    assert "photostream_consumer_lag{" not in text


def test_the_live_table_shows_rates_signed() -> None:
    console = Console(width=160, record=True)
    console.print(render(SNAPSHOT.rows, {("photostream.feeds", "post-created", 2): 3.0}, 0.012))
    text = console.export_text()
    assert "2 partitions" in text and "12 ms" in text
    assert "+3.0" in text
    line = next(ln for ln in text.splitlines() if " 3 " in ln and "photostream.feeds" in ln)
    assert " - " in line and "-1001" not in line and line.rstrip().endswith("│")  # no commit; no rate seen once


def test_a_partition_a_group_never_committed_on_has_a_row_counting_from_its_start() -> None:
    """A processor stuck before its first commit on a topic (or that just started to read it) shows its lag."""
    committed = {"app.follow_requests": [TopicPartition("ns.block-changed", 0, 7)], "app.stuck": [],
                 "someone-else": [TopicPartition("other", 0, 1)]}
    expected = {"app.follow_requests": ("ns.block-changed", "ns.follow-requested"), "app.stuck": ("ns.block-changed",)}
    existing = [("ns.block-changed", 0), ("ns.follow-requested", 1), ("ns.follow-requested", 0), ("other", 0)]
    found = with_uncommitted(committed, expected, existing)
    rows = rows_of(found, {("ns.block-changed", 0): 7, ("ns.follow-requested", 0): 1, ("ns.follow-requested", 1): 3,
                           ("other", 0): 1})
    assert [(r.group, r.topic, r.partition, r.lag) for r in rows] == [
        ("app.follow_requests", "ns.block-changed", 0, 0), ("app.follow_requests", "ns.follow-requested", 0, 1),
        ("app.follow_requests", "ns.follow-requested", 1, 3), ("app.stuck", "ns.block-changed", 0, 7),
        ("someone-else", "other", 0, 0)]  # a group that never committed anything lags by everything


def test_the_lag_tables_columns_line_up_whatever_the_names_length() -> None:
    """A redrive's group name (over 40 characters) pushed its row's columns out of line."""
    lines = format_table([LagRow("photostream-dlq-redrive-notifications-like-changed-x", "like-changed.dlq", 0, 5, 9),
                          LagRow("photostream-feeds", "a-topic-name-over-twenty", 11, -1001, 3)])
    assert len({len(line) for line in lines}) == 1  # every row as wide as the header
    assert lines[2].split() == ["photostream-feeds", "a-topic-name-over-twenty", "11", "-", "3", "3"]
