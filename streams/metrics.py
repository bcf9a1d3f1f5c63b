"""Prometheus metrics of the stream processors (one registry per process, served on the worker's web port)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

EVENTS_PROCESSED = Counter(
    "photostream_events_processed_total", "Events applied by a processor", ["processor", "topic"]
)
EVENTS_DEAD_LETTERED = Counter(
    "photostream_events_dead_lettered_total", "Records sent to a DLQ", ["processor", "topic", "error"]
)
BATCH_SECONDS = Histogram(
    "photostream_batch_seconds", "Time to process and sink one batch", ["processor"]
)
