"""The worker's hot-path metrics: events counted per processor and topic, each one's age observed once."""

import random
import time

from prometheus_client import REGISTRY, CollectorRegistry, Histogram

from streams.metrics import TopicMetrics, observe_all


def _value(name: str, processor: str, topic: str) -> float:
    found = REGISTRY.get_sample_value(name, {"processor": processor, "topic": topic})
    assert found is not None, name
    return found


def test_series_exist_at_zero_before_the_first_event() -> None:
    TopicMetrics("metrics-test-idle", ("post-created", "post-deleted"))
    assert _value("photostream_events_processed_total", "metrics-test-idle", "post-deleted") == 0
    assert _value("photostream_event_age_seconds_count", "metrics-test-idle", "post-deleted") == 0


def test_applied_events_are_counted_and_aged_from_occurred_at() -> None:
    metrics = TopicMetrics("metrics-test-aged", ("like-changed",))
    now_ms = time.time() * 1000
    metrics.applied("like-changed", [now_ms - 2_000, now_ms - 4_000, None])  # one record without a timestamp
    assert _value("photostream_events_processed_total", "metrics-test-aged", "like-changed") == 3
    assert _value("photostream_event_age_seconds_count", "metrics-test-aged", "like-changed") == 2
    total_age = _value("photostream_event_age_seconds_sum", "metrics-test-aged", "like-changed")
    assert 6.0 <= total_age < 7.0
    assert REGISTRY.get_sample_value("photostream_event_age_seconds_bucket", {
        "processor": "metrics-test-aged", "topic": "like-changed", "le": "1.0"}) == 0


def test_an_event_stamped_in_the_future_counts_as_age_zero() -> None:
    metrics = TopicMetrics("metrics-test-skew", ())
    metrics.applied("post-created", [time.time() * 1000 + 60_000])  # a topic not declared up front works too
    assert _value("photostream_event_age_seconds_sum", "metrics-test-skew", "post-created") == 0


def test_observing_all_at_once_fills_the_buckets_as_one_observe_each() -> None:
    """Bounds themselves, amounts past the last bound, zeros: every bucket and the sum as ``observe`` leaves them."""
    bounds = (0.01, 0.1, 1, 10)
    rng = random.Random(3)
    amounts = [*bounds, 0.0, 1e9, *(rng.uniform(0, 20) for _ in range(500))]
    one_by_one, all_at_once = CollectorRegistry(), CollectorRegistry()
    single = Histogram("age", "", buckets=bounds, registry=one_by_one)
    batched = Histogram("age", "", buckets=bounds, registry=all_at_once)
    for amount in amounts:
        single.observe(amount)
    observe_all(batched, amounts)
    observe_all(batched, [])
    samples = [(s.name, s.labels, s.value) for m in one_by_one.collect() for s in m.samples if "created" not in s.name]
    assert samples == [(s.name, s.labels, s.value) for m in all_at_once.collect() for s in m.samples
                       if "created" not in s.name]
    assert ("age_count", {}, len(amounts)) in samples
