"""One Kafka broker SIGKILLed while events are published: nothing acknowledged is lost, nothing duplicated.

Needs the ``KAFKA_BROKERS=3`` profile running in its own stack dir (``scripts/fault-kafka.sh`` starts it beside
the shared stack). Topics are created with replication 3 in a fresh namespace; the SDK's publisher (acks=all,
idempotence) sends a steady stream of ``like-changed`` events with unique ids while a consumer reads them live;
the broker leading partition 0 is SIGKILLed part-way and restarted later. Then the whole topic is read back:
every acknowledged id must be there exactly once. Printed: publish rate, the longest acknowledgement stall, how
long until every partition had a live leader, how long the restarted broker took to rejoin every ISR, and the
retries the producer made (librdkafka's own statistics).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import Any
from unittest import mock

from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from photostream.faults.kafka_readback import read_event_ids, verdict
from photostream.kafka_config import client_config
from photostream.settings import Settings
from photostream.stack.kafka import KafkaNode, kafka_services
from photostream.topics_admin import ensure_topics
from producers import events, publisher
from producers.publisher import PublishResult

TOPIC = "like-changed"


@dataclass
class Acks:
    """Every publish's outcome, recorded by the delivery thread."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acknowledged: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    ack_times: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def callback(self, event_id: str, sent_at: float) -> Callable[[Future[PublishResult]], None]:
        def done(future: Future[PublishResult]) -> None:
            now = time.monotonic()
            error = future.exception()
            with self.lock:
                if error is None:
                    self.acknowledged.add(event_id)
                    self.ack_times.append(now)
                    self.latencies.append(now - sent_at)
                else:
                    self.failed[event_id] = str(error)
        return done


class RetryStats:
    """librdkafka's statistics (JSON every second): request retries and timeouts summed over brokers."""

    def __init__(self) -> None:
        self.last: dict[str, Any] = {}

    def on_stats(self, raw: str) -> None:
        self.last = json.loads(raw)

    def totals(self) -> dict[str, int]:
        brokers = self.last.get("brokers", {}).values()
        return {key: sum(int(b.get(key, 0)) for b in brokers) for key in ("txretries", "req_timeouts", "txerrs")}


def _topic_state(admin: AdminClient, topic: str) -> dict[int, tuple[int, list[int]]]:
    """partition -> (leader, in-sync replicas)."""
    metadata = admin.list_topics(topic, timeout=5).topics[topic]
    return {p.id: (p.leader, list(p.isrs)) for p in metadata.partitions.values()}


def _await(condition: Callable[[], bool], timeout_s: float, what: str) -> float:
    """Seconds until ``condition`` held (polled every 100 ms)."""
    began = time.monotonic()
    while not condition():
        if time.monotonic() - began > timeout_s:
            raise TimeoutError(f"{what} not reached in {timeout_s}s")
        time.sleep(0.1)
    return time.monotonic() - began


def _live_reader(settings: Settings, stop: threading.Event, seen: set[str], topic: str) -> None:
    """A consumer reading along while the broker dies (outside any group): ids it saw, for the live count."""
    from photostream.contracts.codec import EventCodec

    codec = EventCodec()
    consumer = Consumer(client_config(settings, **{"group.id": f"fault-live-{uuid.uuid4()}",
                                                   "enable.auto.commit": False, "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    try:
        while not stop.is_set():
            for message in consumer.consume(500, timeout=0.2):
                if not message.error():
                    seen.add(str(codec.decode(TOPIC, message.value() or b"")["event_id"]))
    finally:
        consumer.close()


@dataclass
class Report:
    events: int
    rate_target: float
    publish_rate: float = 0.0
    victim: int = 0
    victim_was_controller: bool = False
    leaders_moved_s: float = 0.0
    longest_ack_stall_s: float = 0.0
    publish_latency_p50_ms: float = 0.0
    publish_latency_p99_ms: float = 0.0
    publish_latency_max_ms: float = 0.0
    rejoined_isr_s: float = 0.0
    acknowledged: int = 0
    failed: int = 0
    live_consumer_saw: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    readback: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)


def run(settings: Settings, total: int, rate: float, kill_fraction: float, down_s: float) -> Report:
    nodes = [n for n in kafka_services(settings) if isinstance(n, KafkaNode)]
    if len(nodes) < 3:
        raise SystemExit("run with PHOTOSTREAM_KAFKA_BROKERS=3 (the three-node profile) and its STACK_DIR")
    ensure_topics(settings)
    admin = AdminClient(client_config(settings))
    topic = settings.topic_names.physical(TOPIC)
    state = _topic_state(admin, topic)
    assert all(len(isr) == 3 for _, isr in state.values()), f"{topic} is not fully replicated: {state}"
    report = Report(events=total, rate_target=rate)

    acks, stats = Acks(), RetryStats()
    base_config = publisher.producer_config

    def with_statistics(s: Settings) -> dict[str, Any]:  # the SDK's config, plus the statistics to count retries
        return {**base_config(s), "statistics.interval.ms": 1000, "stats_cb": stats.on_stats}

    live_seen: set[str] = set()
    stop_reader = threading.Event()
    reader = threading.Thread(target=_live_reader, args=(settings, stop_reader, live_seen, topic), daemon=True)
    reader.start()
    with mock.patch.object(publisher, "producer_config", with_statistics):
        sdk = publisher.Publisher(settings)
    victim: KafkaNode | None = None
    killed_at = restarted_at = 0.0
    restarter: threading.Thread | None = None
    began = time.monotonic()
    batch = max(1, int(rate / 100))  # one batch every 10 ms
    for sent in range(0, total, batch):
        now = time.monotonic()
        target = began + sent / rate
        if target > now:
            time.sleep(target - now)
        for i in range(sent, min(total, sent + batch)):
            event = events.like_changed(post_id=f"fault-post-{i % 500}", user_id=f"fault-user-{i}", action="like")
            sdk.submit(event).add_done_callback(acks.callback(event.event_id, time.monotonic()))
        if victim is None and sent >= total * kill_fraction:
            leader_of_0 = _topic_state(admin, topic)[0][0]
            victim = next(n for n in nodes if n.node_id == leader_of_0)
            report.victim = victim.node_id
            report.victim_was_controller = admin.describe_cluster().result(timeout=5).controller.id == victim.node_id
            pid = victim.pid()
            assert pid is not None, f"{victim.name} is not running"
            os.kill(pid, signal.SIGKILL)
            killed_at = time.monotonic()
            survivor_admin = AdminClient(client_config(settings, **{"bootstrap.servers": ",".join(
                n.address for n in nodes if n is not victim)}))

            def moved(vid: int = victim.node_id, a: AdminClient = survivor_admin) -> bool:
                return all(leader not in (vid, -1) for leader, _ in _topic_state(a, topic).values())

            def restart_later(node: KafkaNode = victim, killed: float = killed_at) -> None:
                nonlocal restarted_at
                report.leaders_moved_s = _await(moved, 120, "new leaders")
                time.sleep(max(0.0, killed + down_s - time.monotonic()))
                node.start()
                restarted_at = time.monotonic()

            restarter = threading.Thread(target=restart_later, daemon=True)
            restarter.start()
    publish_ended = time.monotonic()
    undelivered = sdk.flush(120)
    sdk.close()
    report.publish_rate = round(total / (publish_ended - began), 1)
    report.retries = stats.totals()
    if restarter is not None:
        restarter.join(timeout=180)
    if victim is not None:
        victim.wait_healthy()
        _await(lambda: all(len(isr) == 3 for _, isr in _topic_state(admin, topic).values()), 180, "full ISRs")
        report.rejoined_isr_s = round(time.monotonic() - restarted_at, 2)

    with acks.lock:
        acknowledged, failed = set(acks.acknowledged), dict(acks.failed)
        stall_from = killed_at or began  # the baseline: the longest gap of the whole run
        after_kill = sorted(t for t in acks.ack_times if t >= stall_from)
        latencies = sorted(acks.latencies)
    gaps = [b - a for a, b in zip([stall_from, *after_kill], after_kill, strict=False)]
    report.longest_ack_stall_s = round(max(gaps, default=0.0), 2)
    report.leaders_moved_s = round(report.leaders_moved_s, 2)
    if latencies:
        report.publish_latency_p50_ms = round(latencies[len(latencies) // 2] * 1000, 1)
        report.publish_latency_p99_ms = round(latencies[int(len(latencies) * 0.99)] * 1000, 1)
        report.publish_latency_max_ms = round(latencies[-1] * 1000, 1)
    report.acknowledged, report.failed = len(acknowledged), len(failed)

    _await(lambda: len(live_seen) >= len(acknowledged), 60, "the live consumer catching up")
    stop_reader.set()
    reader.join(timeout=10)
    report.live_consumer_saw = len(live_seen)

    found = verdict(read_event_ids(settings, TOPIC), acknowledged, set(failed))
    report.readback = asdict(found)
    if undelivered:
        report.failures.append(f"{undelivered} records still undelivered after flush")
    if failed:
        report.failures.append(f"{len(failed)} publishes failed, e.g. {next(iter(failed.values()))}")
    if found.lost:
        report.failures.append(f"{found.lost} acknowledged events lost")
    if found.duplicated:
        report.failures.append(f"{found.duplicated} duplicated records")
    if len(live_seen & acknowledged) != len(acknowledged):
        report.failures.append("the live consumer missed acknowledged events")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=500.0, help="events per second")
    parser.add_argument("--kill-at", type=float, default=0.25, help="fraction published when the broker dies")
    parser.add_argument("--down-s", type=float, default=15.0, help="seconds the broker stays dead")
    parser.add_argument("--namespace", default="", help="default: a fresh fault-kafka-XXXX")
    parser.add_argument("--no-kill", action="store_true", help="the same run without the fault: the baseline")
    args = parser.parse_args()
    namespace = args.namespace or f"fault-kafka-{uuid.uuid4().hex[:6]}"
    settings = Settings(namespace=namespace)
    print(f"namespace {namespace}, bootstrap {settings.kafka_bootstrap_servers}, "
          f"replication {settings.kafka_replication_factor}, publish timeout {settings.publish_timeout_s}s",
          flush=True)
    report = run(settings, args.events, args.rate, 2.0 if args.no_kill else args.kill_at, args.down_s)
    print(json.dumps(asdict(report), indent=2))
    if report.failures:
        raise SystemExit("FAILED: " + "; ".join(report.failures))
    fault = f"broker {report.victim} SIGKILLed" if report.victim else "no fault (baseline)"
    print(f"OK: {report.acknowledged} acknowledged, 0 lost, 0 duplicated with {fault}")


if __name__ == "__main__":
    main()
