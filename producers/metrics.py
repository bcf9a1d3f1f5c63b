"""Prometheus metrics of the publisher, in every process that produces (the API, the worker, the simulator).

Counted at the cost of a dict lookup per publish call (the labelled children are kept per topic), and once
per topic per ``submit_many`` batch, so the pipelining path stays free of per-event metric work.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable
from typing import Any

from prometheus_client import Counter

EVENTS_PRODUCED = Counter(
    "photostream_events_produced_total", "Events handed to the Kafka producer (by catalog topic)", ["topic"]
)
EVENTS_PRODUCE_FAILED = Counter(
    "photostream_events_produce_failed_total", "Events the broker refused or did not acknowledge in time",
    ["topic"],
)
_produced: dict[str, Any] = {}


def produced(topic: str, count: int = 1) -> None:
    child = _produced.get(topic)
    if child is None:
        child = _produced[topic] = EVENTS_PRODUCED.labels(topic)
        EVENTS_PRODUCE_FAILED.labels(topic)  # the failure series exists (at 0) from the first publish on
    child.inc(count)


def produced_many(topics: Iterable[str]) -> None:
    """One increment per distinct topic of a batch (``Counter`` tallies in C)."""
    for topic, count in Tally(topics).items():
        produced(topic, count)


def produce_failed(topic: str) -> None:
    EVENTS_PRODUCE_FAILED.labels(topic).inc()
