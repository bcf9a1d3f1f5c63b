"""Kafka plumbing for benchmarks: log-end offsets, consumer groups seeded at given offsets, cleanup.

Benchmarks run in their own namespace (``bench``: topics ``bench.*``), and even there a benchmark never reads
"the topic": it notes where each partition ended before it produced, and reads from there (with
streams.consumer_groups, as the integration tests do). Offsets are keyed by the catalog's topic names; the raw
clients of the baselines use :func:`assignment` at the broker edge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable

from confluent_kafka import Consumer, ConsumerGroupState, ConsumerGroupTopicPartitions, Message, TopicPartition
from confluent_kafka.admin import AdminClient

from photostream.kafka_config import client_config
from photostream.settings import Settings
from streams.consumer_groups import Offsets, end_offsets, groups_of, seed_groups
from streams.engine.consumer import consumer_config

__all__ = ["Offsets", "Tail", "assignment", "end_offsets", "groups_of", "seed_groups"]


def assignment(settings: Settings, offsets: Offsets) -> list[TopicPartition]:
    """Offsets keyed by catalog names → the namespace's partitions to assign a raw consumer."""
    physical = settings.topic_names.physical
    return [TopicPartition(physical(t), p, o) for (t, p), o in offsets.items()]


class Tail(threading.Thread):
    """A bare consumer on ``topic`` from its current end, handing each record to ``on_record(message, arrived)``
    with the ``perf_counter`` instant it arrived.

    Why: it is the benchmarks' baseline, Kafka's own delivery latency with no processing, beside which a
    pipeline's latency is quoted; one copy, so every benchmark measures its baseline the same way.
    """

    def __init__(self, settings: Settings, topic: str, name: str,
                 on_record: Callable[[Message, float], None]) -> None:
        super().__init__(name=name, daemon=True)
        self._on_record = on_record
        self._halt = threading.Event()
        self._consumer = Consumer(consumer_config(settings, f"{settings.app_id}.tail"))
        self._consumer.assign(assignment(settings, end_offsets(settings, [topic])))

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                message = self._consumer.poll(0.05)
                if message is not None and not message.error():
                    self._on_record(message, time.perf_counter())
        finally:
            self._consumer.close()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def admin_client(settings: Settings) -> AdminClient:
    """An admin client that does not log librdkafka's informational chatter on teardown."""
    return AdminClient(client_config(settings, log_level=5))


def lag(settings: Settings, group: str, topics: Iterable[str]) -> int:
    """Records of ``topics`` not yet committed by ``group`` (everything, if it committed nothing)."""
    done = committed(settings, group)
    return sum(end - max(done.get(tp, 0), 0) for tp, end in end_offsets(settings, topics).items())


def committed(settings: Settings, group: str) -> Offsets:
    admin = admin_client(settings)
    result = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group].result()
    logical = settings.topic_names.logical
    return {(logical(tp.topic), tp.partition): tp.offset for tp in result.topic_partitions or []}


def delete_groups(settings: Settings, groups: Iterable[str]) -> list[str]:
    """Delete the benchmark's own consumer groups; return the ones that could not be deleted."""
    names = sorted(set(groups))
    if not names:
        return []
    admin = admin_client(settings)
    failed = []
    for name, future in admin.delete_consumer_groups(names, request_timeout=15).items():
        try:
            future.result()
        except Exception as exc:  # a group never committed to does not exist: nothing to delete
            if "GROUP_ID_NOT_FOUND" not in str(exc):
                failed.append(f"{name}: {exc}")
    return failed


def live_groups_on(settings: Settings, topics: Iterable[str], ignore_prefix: str) -> dict[str, list[str]]:
    """Other consumer groups with active members on ``topics`` (catalog names, in the settings' namespace): they
    will also process what we produce."""
    names_of = settings.topic_names
    wanted = {names_of.physical(t) for t in topics}
    admin = admin_client(settings)
    listed = admin.list_consumer_groups(request_timeout=10, states={ConsumerGroupState.STABLE}).result()
    names = [g.group_id for g in listed.valid if not g.group_id.startswith(ignore_prefix)]
    found: dict[str, list[str]] = {}
    if not names:
        return found
    for name, future in admin.describe_consumer_groups(names, request_timeout=10).items():
        try:
            description = future.result()
        except Exception:
            continue
        seen = {tp.topic for member in description.members if member.assignment
                for tp in member.assignment.topic_partitions}
        if seen & wanted:
            found[name] = sorted(names_of.logical(t) for t in seen & wanted)
    return found
