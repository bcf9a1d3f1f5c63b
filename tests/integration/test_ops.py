"""Operations through the real stack: `photostream replay` to every format, `photostream lag --serve` scraped
by a Prometheus started from the stack code (rules loaded), and a second Kafka started from the stack code
serving broker metrics through the JMX exporter agent. Nothing here restarts the shared services."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from prometheus_client.parser import text_string_to_metric_families

from photostream.domain.safety import REPORT_REASONS
from photostream.kafka_config import client_config
from photostream.settings import Settings
from photostream.stack.kafka import KafkaService
from photostream.stack.prometheus import PrometheusService
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher, PublishResult, producer_config
from tests.integration.conftest import free_port, photostream
from tests.integration.waiting import wait_for

BIN = Path(sys.executable).parent
TOPIC = "content-reported"  # no processor consumes it: the garbage record below bothers nobody


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    result = photostream(dict(os.environ), *args, timeout_s=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


class _Published:
    """A handful of this run's reports plus one undecodable record, all inside [start_ms, stop_ms)."""

    def __init__(self, settings: Settings, publisher: Publisher) -> None:
        self.reporter = new_id()
        self.start_ms = _now_ms()
        self.results: list[PublishResult] = []
        for i in range(8):
            kind = ("user", "post", "comment")[i % 3]
            self.results.append(publisher.publish(events.content_reported(
                reporter_id=self.reporter, target_kind=kind, target_id=new_id(), reason=REPORT_REASONS[i],
                details=None if i % 2 else f"details «{i}», with \"quotes\"\nand a newline")))
        producer = Producer(producer_config(settings))  # (the SDK's partitioner)
        landed: list[tuple[int, int]] = []
        producer.produce(TOPIC, b"\xc3\x01garbage-from-test-ops", self.reporter.encode(),
                         on_delivery=lambda err, msg: landed.append((msg.partition(), msg.offset())))
        assert producer.flush(10) == 0
        self.garbage = landed[0]
        self.stop_ms = _now_ms() + 1

    @property
    def offsets(self) -> set[tuple[int, int]]:
        return {(r.partition, r.offset) for r in self.results}

    def mine(self, rows: list[dict[str, str]]) -> list[dict[str, str]]:
        return [r for r in rows if r["reporter_id"] == self.reporter]


@pytest.fixture(scope="module")
def published(settings: Settings, publisher: Publisher) -> _Published:
    return _Published(settings, publisher)


def test_a_time_range_leaves_out_records_between_its_offsets_stamped_outside_it(tmp_path: Path,
                                                                                settings: Settings) -> None:
    """A partition's times need not rise with its offsets (producers' own timestamps, clock skew), and a time
    end resolves to the first offset stamped at or after it: a record stamped before ``--from`` that came
    after the first one inside was exported. (Its own one-partition topic in its own namespace: records
    stamped out of order would move the other replays' time lookups.)"""
    from confluent_kafka.admin import NewTopic

    from photostream.contracts.codec import EventCodec
    from photostream.topics_admin import await_leaders

    namespaced = settings.model_copy(update={"namespace": "it-replay"})
    physical = namespaced.topic_names.physical(TOPIC)
    admin = AdminClient(client_config(settings))
    if physical not in admin.list_topics(timeout=10).topics:
        for future in admin.create_topics([NewTopic(physical, 1, 1)], operation_timeout=30).values():
            future.result()
        await_leaders(admin, [physical], 30)  # (the controller's answer precedes the broker's metadata)
    reporter, base = new_id(), _now_ms()
    producer = Producer(producer_config(settings))
    sent: list[str] = []
    for shift in (0, -10_000, 5_000):  # inside, before --from (out of order), after --to
        event = events.content_reported(reporter_id=reporter, target_kind="user", target_id=new_id(),
                                        reason=REPORT_REASONS[0], details=None)
        producer.produce(physical, EventCodec().encode(TOPIC, event.value), reporter.encode(),
                         timestamp=base + shift)
        sent.append(event.value["event_id"])
    assert producer.flush(10) == 0
    out = tmp_path / "window.jsonl"
    # (the run's keyspace: the export asks it who was deleted, and this namespace has none of its own)
    environment = dict(os.environ) | {"PHOTOSTREAM_NAMESPACE": "it-replay",
                                      "PHOTOSTREAM_CASSANDRA_KEYSPACE": settings.cassandra_keyspace}
    result = photostream(environment, "replay", TOPIC, "--from", _iso(base - 5_000), "--to", _iso(base + 1_000),
                         "-o", str(out), timeout_s=120)
    assert result.returncode == 0, result.stderr
    mine = [r for r in map(json.loads, out.read_text().splitlines()) if r["reporter_id"] == reporter]
    assert [r["event_id"] for r in mine] == [sent[0]], mine
    assert "1 records between those offsets stamped outside" in result.stderr


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
def test_replay_between_two_times_exports_every_partition_and_sets_garbage_aside(
    published: _Published, fmt: str, tmp_path: Path,
) -> None:
    out = tmp_path / f"reports.{fmt}"
    result = _cli("replay", TOPIC, "--from", _iso(published.start_ms), "--to", _iso(published.stop_ms),
                  "--format", fmt, "-o", str(out), "--batch", "3")
    if fmt == "jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
    elif fmt == "csv":
        with out.open(newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        rows = pq.read_table(out).to_pylist()
    mine = published.mine(rows)
    assert {(int(r["_partition"]), int(r["_offset"])) for r in mine} == published.offsets
    assert {r["event_id"] for r in mine} == {r.event_id for r in published.results}
    assert sorted(r["reason"] for r in mine) == sorted(REPORT_REASONS[:8])
    with_details = next(r for r in mine if r["reason"] == REPORT_REASONS[0])
    assert with_details["details"] == "details «0», with \"quotes\"\nand a newline"
    side = Path(str(out) + ".undecodable.jsonl")
    dead = [json.loads(line) for line in side.read_text().splitlines()]
    assert (published.garbage[0], published.garbage[1]) in {(d["partition"], d["offset"]) for d in dead}
    for partition in range(4):  # every partition is reported on stderr, garbage counted, nothing fatal
        assert f"partition {partition}: offsets [" in result.stderr
    assert "undecodable →" in result.stderr
    # a later export to the same file with nothing undecodable leaves no earlier side file beside it
    _cli("replay", TOPIC, "--from", "0", "--to", "0", "--format", fmt, "-o", str(out))  # (an empty range)
    assert not side.exists()


def test_replay_between_offsets_takes_exactly_that_range_of_each_partition(
    settings: Settings, published: _Published, tmp_path: Path,
) -> None:
    partition, offset = published.results[0].partition, published.results[0].offset
    out = tmp_path / "by-offset.jsonl"
    result = _cli("replay", TOPIC, "--from", str(offset), "--to", str(offset + 1), "--format", "jsonl",
                  "-o", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert (partition, offset) in {(r["_partition"], r["_offset"]) for r in rows}
    assert all(r["_offset"] == offset for r in rows)  # one offset per partition, the one asked for
    assert f"partition {partition}: offsets [{offset}, {offset + 1}) → 1 written" in result.stderr


def _commit_short_of_the_end(settings: Settings, group: str) -> dict[int, int]:
    """Commit ``group`` 3 records short of the end of post-deleted's partitions 0 and 1."""
    consumer = Consumer(client_config(settings, **{"group.id": group, "enable.auto.commit": False}))
    committed = {}
    for partition in (0, 1):
        _, high = consumer.get_watermark_offsets(TopicPartition("post-deleted", partition), timeout=10)
        committed[partition] = max(high - 3, 0)
    consumer.commit(offsets=[TopicPartition("post-deleted", p, o) for p, o in committed.items()],
                    asynchronous=False)
    consumer.close()
    return committed


def _delete_groups(settings: Settings, groups: list[str]) -> None:
    admin = AdminClient(client_config(settings))  # kept referenced: a collected client never settles its futures
    for future in admin.delete_consumer_groups(groups, request_timeout=10).values():
        future.result(timeout=30)


@pytest.fixture()
def lagging_group(settings: Settings) -> Iterator[tuple[str, dict[int, int]]]:
    """A group of this run that committed 3 records short of the end of post-deleted's partitions 0 and 1."""
    group = f"{settings.app_id}.ops-lag"
    committed = _commit_short_of_the_end(settings, group)
    yield group, committed
    _delete_groups(settings, [group])


def test_the_lag_table_shows_this_deployments_groups_unless_asked_for_every_group(
        settings: Settings, lagging_group: tuple[str, dict[int, int]]) -> None:
    """On a broker shared by deployments (namespaces, a test run beside the demo), `photostream lag` is about
    the deployment it is run for: its APP_ID's groups; ``--all-groups`` shows the others too."""
    mine, _ = lagging_group
    other = f"photostream-other{new_id()[:8]}.ops-lag"
    _commit_short_of_the_end(settings, other)
    try:
        env = dict(os.environ) | {"PHOTOSTREAM_APP_ID": settings.app_id}

        def groups_listed(*args: str) -> set[str]:
            result = photostream(env, "lag", *args, timeout_s=120)
            assert result.returncode == 0, result.stdout + result.stderr
            return {line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip()}

        listed = groups_listed()
        assert mine in listed and other not in listed
        assert all(g == settings.app_id or g.startswith(f"{settings.app_id}.") for g in listed)
        assert {mine, other} <= groups_listed("--all-groups")
        for watching in ([], ["--watch"]):  # the live table too (it showed an empty table until Ctrl-C)
            unknown = photostream(env, "lag", "--group", f"{settings.app_id}.no-such-group", *watching,
                                  timeout_s=120)
            assert unknown.returncode == 2 and "no consumer group" in unknown.stderr, unknown.stdout + unknown.stderr
        with socket.socket() as taken:  # an exporter port in use: one line, exit 2 (it was a traceback)
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy = photostream(env, "lag", "--serve", "--port", str(taken.getsockname()[1]), timeout_s=120)
        assert busy.returncode == 2 and "cannot serve" in busy.stderr and "Traceback" not in busy.stderr, busy.stderr
    finally:
        _delete_groups(settings, [other])


def _samples(text: str, name: str, group: str) -> dict[int, float]:
    return {int(s.labels["partition"]): s.value for family in text_string_to_metric_families(text)
            for s in family.samples if s.name == name and s.labels.get("group") == group}


def test_the_lag_exporter_shows_a_groups_known_lag_and_prometheus_scrapes_it_with_rules_loaded(
    settings: Settings, lagging_group: tuple[str, dict[int, int]], tmp_path: Path,
) -> None:
    group, committed = lagging_group
    port = free_port()
    log = (tmp_path / "lag.log").open("wb")
    exporter = subprocess.Popen([str(BIN / "photostream"), "lag", "--serve", "--port", str(port)],
                                stdout=log, stderr=log, env=dict(os.environ))
    prometheus = PrometheusService(settings.model_copy(update={
        "stack_dir": tmp_path / "stack", "prometheus_port": free_port(), "lag_exporter_port": port}))
    try:
        def scrape() -> str | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            except httpx.TransportError:
                return None

        text = wait_for(scrape, lambda t: t is not None, 30, "the lag exporter to answer")
        assert text is not None
        lag = _samples(text, "photostream_consumer_lag", group)
        ends = _samples(text, "photostream_consumer_end_offset", group)
        assert _samples(text, "photostream_consumer_committed_offset", group) == committed
        assert set(lag) == {0, 1}
        for partition in (0, 1):
            assert lag[partition] == ends[partition] - committed[partition]
            assert lag[partition] >= min(3, ends[partition])
        assert "photostream_lag_up 1.0" in text

        table = _cli("lag", "--group", group).stdout.splitlines()
        assert [line.split()[:4] for line in table[1:]] == [[group, "post-deleted", str(p), str(committed[p])]
                                                           for p in (0, 1)]

        prometheus.install()
        prometheus.start()
        prometheus.wait_healthy(60)
        base = f"http://{prometheus.address}/api/v1"

        def scraped() -> dict[int, float]:
            answer = httpx.get(f"{base}/query", params={"query": f'photostream_consumer_lag{{group="{group}"}}'})
            return {int(r["metric"]["partition"]): float(r["value"][1]) for r in answer.json()["data"]["result"]}

        seen = wait_for(scraped, lambda v: set(v) == {0, 1}, 60, "Prometheus to scrape the lag exporter")
        assert all(seen[p] >= min(3, ends[p]) for p in (0, 1))
        rules = httpx.get(f"{base}/rules").json()["data"]["groups"]
        names = {rule["name"] for g in rules for rule in g["rules"]}
        assert {"ConsumerLagHigh", "ConsumerLagGrowing", "DeadLettersGrowing", "ApiServerErrors",
                "WorkerMetricsDown"} <= names
        targets = httpx.get(f"{base}/targets").json()["data"]["activeTargets"]
        assert {t["labels"]["job"] for t in targets} >= {"photostream-lag", "kafka", "photostream-worker"}
    finally:
        prometheus.stop()
        exporter.terminate()
        exporter.wait(10)
        log.close()


def test_a_kafka_started_by_the_stack_serves_broker_metrics(settings: Settings, tmp_path: Path) -> None:
    """A second, throwaway broker on free ports (the shared one is never restarted)."""
    port = free_port()
    kafka = KafkaService(settings.model_copy(update={
        "stack_dir": tmp_path / "stack", "kafka_port": port, "kafka_controller_port": free_port(),
        "kafka_jmx_exporter_port": free_port(), "kafka_bootstrap_servers": f"127.0.0.1:{port}",
        "kafka_heap": "256m"}))
    kafka.install()
    try:
        kafka.start()
        kafka.wait_healthy(90)
        text = httpx.get(f"http://{kafka.metrics_address}/metrics", timeout=30).text
        names = {family.name for family in text_string_to_metric_families(text)}
        assert {"kafka_server_replicamanager_partitioncount", "kafka_controller_kafkacontroller_activecontrollercount",
                "kafka_server_brokertopicmetrics_messagesinpersec", "jvm_memory_used_bytes"} <= names
        assert not list(kafka.lib.glob("jmx_prometheus_javaagent*"))  # the agent stays off Kafka's classpath
    finally:
        kafka.stop()


def test_replay_refuses_an_empty_range_or_a_missing_directory_in_one_line(test_env: dict[str, str],
                                                                        tmp_path: Path) -> None:
    """Usage errors are one clear line and exit 2, before anything is read (not a traceback, not an empty file)."""
    out = str(tmp_path / "x.jsonl")
    for topic, args, says in (("post-created", ["--from", "10", "--to", "5", "-o", out], "the range is empty"),
                              ("post-created", ["-o", str(tmp_path / "missing" / "x.jsonl")], "no such directory"),
                              ("post-created", ["-o", str(tmp_path)], "is a directory"),
                              ("post-created", ["--batch", "1000001", "-o", out], "at most 1,000,000"),
                              ("no-such-topic", ["-o", out], "unknown topic"),
                              ("post-created.dlq", ["-o", out], "photostream tail")):
        done = photostream(test_env, "replay", topic, *args)
        assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "x.jsonl").exists()


def test_a_window_that_holds_nothing_exports_an_empty_file(test_env: dict[str, str], tmp_path: Path) -> None:
    """``--from latest --to <a time to come>`` (a script's window over what arrived since) was refused as
    reversed: every end resolves per partition, and a window with nothing in it is an empty export."""
    for name, args in (("future.jsonl", ["--from", "latest", "--to", "2030-01-01"]),
                       ("zero.jsonl", ["--from", "0", "--to", "earliest"])):
        done = photostream(test_env, "replay", "post-created", *args, "-o", str(tmp_path / name))
        assert done.returncode == 0, done.stderr
        assert (tmp_path / name).read_text() == ""


def test_a_parquet_export_holds_an_old_writer_s_unwritten_fields_as_null(publisher: Publisher,
                                                                         tmp_path: Path) -> None:
    """A profile-updated written with schema v1 leaves ``is_private`` unwritten (it decodes as null: "unchanged"),
    and the Parquet writer declared the column non-nullable: the export died with a traceback."""
    from photostream.contracts.codec import EventCodec
    from photostream.contracts.schema_store import default_store

    user, start = new_id(), _now_ms()
    record = {"event_id": new_id(), "occurred_at": start, "user_id": user, "username": f"u{user[-12:]}",
              "display_name": "Old writer", "bio": None, "avatar_image_id": None}
    v1 = default_store().versions("profile-updated")[0]
    publisher.submit_raw("profile-updated", user, EventCodec().encode("profile-updated", record, v1),
                         record["event_id"]).result(30)
    out = tmp_path / "profiles.parquet"
    _cli("replay", "profile-updated", "--from", _iso(start - 1_000), "--to", _iso(_now_ms() + 1_000),
         "--format", "parquet", "-o", str(out))
    [mine] = [r for r in pq.read_table(out).to_pylist() if r["user_id"] == user]
    assert (mine["display_name"], mine["is_private"], mine["tags_manual_approval"]) == ("Old writer", None, None)
