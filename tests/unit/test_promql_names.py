"""The lexer behind the "every metric a panel or rule names is exported" test reads names, and only names."""

import pytest

from tests.promql_names import DASHBOARDS, dashboard_expressions, metric_names, referenced_metrics, rule_expressions


@pytest.mark.parametrize(("expr", "names"), [
    ("photostream_processor_ready == 0", {"photostream_processor_ready"}),
    ('sum by (group) (photostream_consumer_lag{group!~"photostream-(test|bench)-.*"}) > 10000',
     {"photostream_consumer_lag"}),
    ("histogram_quantile(0.99, sum by (processor, le) (rate(photostream_event_age_seconds_bucket[5m]))) > 10",
     {"photostream_event_age_seconds_bucket"}),
    ('sum(rate(a_total{status=~"5.."}[5m])) / sum(rate(a_total[$__rate_interval])) > 0.05', {"a_total"}),
    ("sum by (topic) (increase(x{topic=~\".+\\\\.dlq\"}[10m])) > 0 and on (topic) y offset 5m", {"x", "y"}),
    ('up{job=~"photostream-lag|kafka"} == 0', {"up"}),
    ("rate(m[1m:10s]) * 1e3", {"m"}),
])
def test_names_are_read_from_expressions(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_the_shipped_rules_and_dashboard_are_read() -> None:
    assert len(rule_expressions()) >= 10
    assert [p.name for p in DASHBOARDS] == ["photostream.json"]
    assert len(dashboard_expressions(DASHBOARDS[0])) >= 15
    named = referenced_metrics()
    assert {"photostream_consumer_lag", "photostream_event_age_seconds_bucket",
            "photostream_http_request_seconds_bucket", "photostream_events_dead_lettered_total",
            "photostream_feed_fanout_followers_bucket"} <= set(named)
    assert "up" not in named and "le" not in named and "processor" not in named
