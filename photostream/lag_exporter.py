"""`photostream lag --serve`: consumer lag as Prometheus gauges, read fresh on every scrape.

A custom collector (not gauges set by a timer) so a scrape always sees offsets as of that scrape and an idle
exporter costs the broker nothing. One scrape = one :meth:`LagReader.read` (a group listing, one offsets
request per group, one metadata request, one ``list_offsets``). Besides the per-group series it exports every
topic's end offsets, so dead-letter growth (``*.dlq``) and topic throughput are visible without a consumer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from photostream.lag import LagReader, LagSnapshot
from photostream.settings import Settings

log = logging.getLogger(__name__)

_GROUP_LABELS = ["group", "topic", "partition"]


def families(snapshot: LagSnapshot) -> list[GaugeMetricFamily]:
    """The metric families of one reading (pure: unit-testable without a broker)."""
    lag = GaugeMetricFamily("photostream_consumer_lag", "End offset minus committed offset", labels=_GROUP_LABELS)
    committed = GaugeMetricFamily("photostream_consumer_committed_offset", "Committed offset of the group",
                                  labels=_GROUP_LABELS)
    end = GaugeMetricFamily("photostream_consumer_end_offset", "High watermark of the group's partition",
                            labels=_GROUP_LABELS)
    for row in snapshot.rows:
        labels = [row.group, row.topic, str(row.partition)]
        lag.add_metric(labels, row.lag)
        committed.add_metric(labels, max(row.committed, 0))
        end.add_metric(labels, row.end)
    topic_end = GaugeMetricFamily("photostream_topic_end_offset", "High watermark of every topic partition",
                                  labels=["topic", "partition"])
    for (topic, partition), offset in sorted(snapshot.topic_ends.items()):
        topic_end.add_metric([topic, str(partition)], offset)
    return [lag, committed, end, topic_end]


class LagCollector(Collector):
    """Reads the lag when Prometheus scrapes; a failed reading is reported as ``photostream_lag_up 0``."""

    def __init__(self, reader: LagReader) -> None:
        self.reader = reader

    def collect(self) -> Iterator[Any]:
        began = time.monotonic()
        up = GaugeMetricFamily("photostream_lag_up", "1 if the last lag reading succeeded")
        try:
            snapshot = self.reader.read(all_topics=True)
        except Exception:
            log.exception("reading consumer lag failed")
            up.add_metric([], 0)
            yield up
            return
        yield from families(snapshot)
        up.add_metric([], 1)
        yield up
        yield GaugeMetricFamily("photostream_lag_read_seconds", "Time the last lag reading took",
                                value=time.monotonic() - began)


def serve(settings: Settings, port: int | None = None, host: str = "127.0.0.1") -> Any:
    """Start the exporter's HTTP server in a background thread; returns the server (``shutdown()`` stops it)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(LagCollector(LagReader(settings)))
    server, _thread = start_http_server(port if port is not None else settings.lag_exporter_port, host,
                                        registry=registry)
    return server
