"""Prometheus metrics of the stream processors (one registry per process, served on the worker's web port).

The names here are a contract: the alert rules (``ops/prometheus/alerts.yml``) and the Grafana dashboard
(``ops/grafana/photostream.json``) query them, and ``tests/integration/test_metrics_exported.py`` fails when a
rule or panel names a metric no process exports.

Hot paths observe through :class:`TopicMetrics`, which holds each ``(processor, topic)``'s labelled children:
``Counter.labels()`` hashes and locks on every call (about a microsecond), an ``observe`` on a kept child is a
fraction of that. Children are created up front, so a processor's series exist (at 0) before its first event
and ``rate()``/``increase()`` see the first increments.
"""

from __future__ import annotations

import bisect
import collections
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

EVENTS_PROCESSED = Counter(
    "photostream_events_processed_total", "Events consumed and applied by a processor", ["processor", "topic"]
)
EVENTS_DEAD_LETTERED = Counter(
    "photostream_events_dead_lettered_total", "Records sent to a DLQ", ["processor", "topic", "error"]
)
BATCH_SECONDS = Histogram(
    "photostream_batch_seconds", "Time to process and sink one batch", ["processor"]
)
BATCH_FAILURES = Counter(
    "photostream_batch_failures_total", "Batch attempts that failed on a store or the broker (then retried)",
    ["processor"],
)
#: now − ``occurred_at`` when the event's effects are durable: what a reader waits for, end to end
EVENT_AGE_SECONDS = Histogram(
    "photostream_event_age_seconds", "Age of an event (now - occurred_at) when its processor applied it",
    ["processor", "topic"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600),
)
#: followers whose feeds one pushed post was written into (pull-tier and private posts are not fanned out)
FANOUT_FOLLOWERS = Histogram(
    "photostream_feed_fanout_followers", "Followers' feeds a pushed post was written into",
    buckets=(0, 1, 10, 50, 100, 500, 1000, 2500, 5000, 10_000, 25_000, 100_000),
)
PROCESSOR_READY = Gauge(
    "photostream_processor_ready", "1 while a batch processor's consumer has joined its group", ["processor"]
)


class TopicMetrics:
    """The labelled children of one processor, per topic, kept for the hot path."""

    __slots__ = ("_age", "_processed", "batch_seconds", "processor")

    def __init__(self, processor: str, topics: Iterable[str]) -> None:
        self.processor = processor
        self.batch_seconds = BATCH_SECONDS.labels(processor)
        self._processed: dict[str, Any] = {}
        self._age: dict[str, Any] = {}
        for topic in topics:
            self._children(topic)

    def _children(self, topic: str) -> tuple[Any, Any]:
        processed = self._processed.get(topic)
        if processed is None:
            processed = self._processed[topic] = EVENTS_PROCESSED.labels(self.processor, topic)
            self._age[topic] = EVENT_AGE_SECONDS.labels(self.processor, topic)
        return processed, self._age[topic]

    def applied(self, topic: str, occurred_at_ms: Iterable[Any]) -> None:
        """Count events of ``topic`` just made durable, and observe each one's age (ms timestamps; a record
        without one is counted, not aged)."""
        processed, age = self._children(topic)
        now_ms = time.time() * 1000.0
        times = list(occurred_at_ms)
        observe_all(age, [max(0.0, (now_ms - at) / 1000.0) for at in times if at is not None])
        processed.inc(len(times))


def observe_all(histogram: Any, amounts: list[float]) -> None:
    """``histogram.observe(amount)`` for each amount, one increment per bucket touched: a batch's events have
    nearly the same age, and an ``observe`` each (a lock and a walk of the bounds) cost ~0.6 µs an event, on
    every processor. The client's bucket values are internals (``_upper_bounds``, ``_buckets``, ``_sum``:
    prometheus-client 0.20-0.26), so without them this observes one by one
    (``tests/unit/test_stream_metrics.py`` compares the two)."""
    bounds, buckets, total = (getattr(histogram, name, None) for name in ("_upper_bounds", "_buckets", "_sum"))
    if bounds is None or buckets is None or total is None:
        for amount in amounts:
            histogram.observe(amount)
        return
    for index, count in collections.Counter(bisect.bisect_left(bounds, a) for a in amounts).items():
        buckets[index].inc(count)
    if amounts:
        total.inc(sum(amounts))
