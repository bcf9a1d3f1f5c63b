"""Every metric an alert rule or a Grafana panel names is exported by a process of the system: this run's worker
and API, `photostream lag --serve` (started here on a free port) and the shared broker's JMX exporter agent.

A rule over a misspelt or renamed metric never fires, and a panel over one stays empty without an error: this
test is what keeps ops/ in step with the code. The run first makes each labelled series exist (a follow through
the API, a poison record for the worker's DLQ count); histograms are scraped as their _bucket/_sum/_count.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Producer
from prometheus_client.parser import text_string_to_metric_families

from photostream.settings import Settings
from producers.ids import new_id
from producers.publisher import producer_config
from tests.integration.conftest import Process, auth, free_port, worker_ready_urls
from tests.integration.waiting import wait_for
from tests.promql_names import referenced_metrics

BIN = Path(sys.executable).parent


def _scrape(url: str) -> set[str] | None:
    """Sample names at ``url`` (``name_bucket``, ``name_total``…), or None while it does not answer."""
    try:
        answer = httpx.get(url, timeout=10)
    except httpx.TransportError:
        return None
    if answer.status_code != 200:
        return None
    return {s.name for family in text_string_to_metric_families(answer.text) for s in family.samples}


def _scrape_all(urls: list[str]) -> set[str] | None:
    """The union over several processes (the worker runs one process per core, each with its own registry:
    a record is counted by whichever process owns its partition); None while any does not answer."""
    found = [_scrape(url) for url in urls]
    return None if any(names is None for names in found) else set().union(*(n for n in found if n is not None))


@pytest.fixture()
def lag_exporter(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    with (tmp_path / "lag.log").open("wb") as log:
        exporter = subprocess.Popen([str(BIN / "photostream"), "lag", "--serve", "--port", str(port)],
                                    stdout=log, stderr=log, env=dict(os.environ))
        try:
            yield f"http://127.0.0.1:{port}/metrics"
        finally:
            exporter.terminate()
            exporter.wait(10)


def test_every_metric_a_rule_or_panel_names_is_exported(
    settings: Settings, test_env: dict[str, str], worker: Process, api_url: str, lag_exporter: str,
) -> None:
    named = referenced_metrics()
    worker_urls = [url.removesuffix("/ready") + "/metrics" for url in worker_ready_urls(test_env)]
    # series that exist only once something happened: an API write (produced, latency), a dead letter
    follower = new_id()
    answer = httpx.post(f"{api_url}/api/v1/users/{new_id()}/mute", headers=auth(settings, follower), timeout=30)
    assert answer.status_code == 202, answer.text
    producer = Producer(producer_config(settings))  # (the SDK's partitioner)
    producer.produce("user-registered", b"\xc3\x01metrics-test-poison", new_id().encode())
    assert producer.flush(10) == 0
    wait_for(lambda: _scrape_all(worker_urls),
             lambda n: bool(n and "photostream_events_dead_lettered_total" in n), 60,
             "a worker process to count the poison record")

    worker_names = wait_for(lambda: _scrape_all(worker_urls), lambda n: bool(n), 30, "every worker process to answer")
    assert worker_names is not None
    exported: dict[str, set[str]] = {"worker": worker_names}
    scrapes = {
        "api": f"{api_url}/metrics",
        "lag exporter": lag_exporter,
        "kafka jmx exporter": f"http://127.0.0.1:{settings.kafka_jmx_exporter_port}/metrics",
    }
    for process, url in scrapes.items():
        names = wait_for(lambda url=url: _scrape(url), lambda n: bool(n), 30, f"{process} to answer at {url}")
        assert names is not None
        exported[process] = names
    everything = set().union(*exported.values())
    missing = {name: sorted(where) for name, where in named.items() if name not in everything}
    assert not missing, f"named by a rule or panel but exported by no process: {missing}"
    # and each family comes from the process meant to export it
    assert "photostream_event_age_seconds_bucket" in exported["worker"]
    assert "photostream_feed_fanout_followers_bucket" in exported["worker"]
    assert "photostream_http_request_seconds_bucket" in exported["api"]
    assert "photostream_event_loop_lag_seconds_bucket" in exported["api"]
    assert "photostream_status_push_delay_seconds_count" in exported["api"]
    assert "photostream_event_loop_lag_seconds_bucket" in exported["worker"]
    assert "photostream_events_produced_total" in exported["api"]
    assert "photostream_consumer_lag" in exported["lag exporter"]
    assert "kafka_server_brokertopicmetrics_messagesinpersec_total" in exported["kafka jmx exporter"]
