"""Consumer lag per group/topic/partition: what SREs watch.

One :class:`LagReader` keeps one admin connection; a reading costs one ``list_consumer_groups`` (unless a group
is named), one committed-offsets request per group (issued together, awaited together) and a single
``list_offsets`` for the high watermarks of every partition involved. The same reader serves the one-shot
table, the live table (:mod:`photostream.lag_watch`) and the Prometheus exporter
(:mod:`photostream.lag_exporter`), so all three agree.

Kafka lists a group's committed offsets only: a partition the group never committed on (a processor that never
got to it, a topic it has just started to read) would have no row, and a stuck processor no lag. So the groups
of this deployment's app id that exist are read with every partition of every topic they consume
(:func:`streams.consumer_groups.groups_of`), a partition without a commit counting from its start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from confluent_kafka import OFFSET_INVALID, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin import OffsetSpec as OffsetSpec  # type: ignore[attr-defined]

from photostream.kafka_config import client_config
from photostream.settings import Settings


@dataclass(frozen=True)
class LagRow:
    group: str
    topic: str
    partition: int
    committed: int  # negative (OFFSET_INVALID) when the group never committed on this partition
    end: int

    @property
    def lag(self) -> int:
        return self.end - max(self.committed, 0)

    @property
    def shown_committed(self) -> str:
        """The committed offset as tables show it: "-" for none (not librdkafka's -1001)."""
        return str(self.committed) if self.committed >= 0 else "-"


@dataclass(frozen=True)
class LagSnapshot:
    """Every group's rows plus the end offsets of all topics read in the same pass (for DLQ growth)."""

    rows: list[LagRow]
    topic_ends: dict[tuple[str, int], int]


_TOOL_GROUP = re.compile(r"photostream-(tail|lag|replay|dlq)-"
                         r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_tool_group(group: str) -> bool:
    """A one-off group of `tail`, `lag`, `replay` or `dlq` (the prefix and a random UUID, exactly): a
    deployment whose namespace merely starts with ``tail-`` (app id ``photostream-tail-…``) was hidden from lag
    and its alerts."""
    return _TOOL_GROUP.fullmatch(group) is not None


def of_app(group: str, app_id: str) -> bool:
    """Whether ``group`` is one of the app id's: the processors' and the tools' ``APP_ID.<name>``, and the app id
    itself (faust's group, where the projectors were until stop 48: the worker adopts and deletes it)."""
    return group == app_id or group.startswith(f"{app_id}.")


def lag_rates(before: Iterable[LagRow], after: Iterable[LagRow], seconds: float) -> dict[tuple[str, str, int], float]:
    """Lag change per second between two readings, per (group, topic, partition) present in both.

    Positive: the group falls behind; negative: it catches up. Partitions new in ``after`` have no rate."""
    if seconds <= 0:
        return {}
    old = {(r.group, r.topic, r.partition): r.lag for r in before}
    return {key: (row.lag - old[key]) / seconds
            for row in after if (key := (row.group, row.topic, row.partition)) in old}


class LagReader:
    """Reads committed and end offsets through one admin client (cheap to call every second)."""

    def __init__(self, settings: Settings, expected: Mapping[str, Iterable[str]] | None = None,
                 app_id: str | None = None) -> None:
        self.settings = settings
        self.admin = AdminClient(client_config(settings))
        #: only this app id's groups (``APP_ID`` and ``APP_ID.*``), when given: one deployment on a shared broker
        self.app_id = app_id
        #: group → the (broker) topics it consumes: this deployment's groups, unless given
        self.expected = {group: tuple(topics) for group, topics in
                         (expected if expected is not None else deployment_groups(settings)).items()}

    def groups(self) -> list[str]:
        return sorted(g for g in self.groups_on_broker()
                      if not is_tool_group(g) and (self.app_id is None or of_app(g, self.app_id)))

    def groups_on_broker(self) -> set[str]:
        """Every consumer group the broker knows (tools' and other deployments' too)."""
        found = self.admin.list_consumer_groups(request_timeout=self.settings.kafka_admin_timeout_s).result()
        if found.errors:  # (a broker out of reach is an error here, not "no groups": the table said "no lag")
            raise KafkaException(found.errors[0])
        return {g.group_id for g in found.valid}

    def committed(self, groups: list[str]) -> dict[str, list[TopicPartition]]:
        """Each group's committed offsets: one request per group, all in flight at once."""
        timeout = self.settings.kafka_admin_timeout_s
        futures = {group: self.admin.list_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group)], request_timeout=timeout)[group] for group in groups}
        return {group: list(future.result().topic_partitions or []) for group, future in futures.items()}

    def end_offsets(self, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
        """High watermarks of ``partitions`` in one ``list_offsets`` request."""
        latest = OffsetSpec.latest()  # type: ignore[no-untyped-call]
        wanted = {TopicPartition(topic, partition): latest for topic, partition in set(partitions)}
        if not wanted:
            return {}
        futures = self.admin.list_offsets(wanted, request_timeout=self.settings.kafka_admin_timeout_s)
        return {(tp.topic, tp.partition): future.result().offset for tp, future in futures.items()}

    def all_partitions(self) -> list[tuple[str, int]]:
        """Every partition of every non-internal topic (one metadata request)."""
        metadata = self.admin.list_topics(timeout=self.settings.kafka_admin_timeout_s)
        return [(name, p) for name, topic in metadata.topics.items() if not name.startswith("__")
                for p in topic.partitions]

    def read(self, only_group: str | None = None, *, all_topics: bool = False) -> LagSnapshot:
        groups = [only_group] if only_group else self.groups()
        committed = self.committed(groups)
        if any(group in self.expected for group in groups):
            committed = with_uncommitted(committed, self.expected, self.all_partitions())
        partitions = {(tp.topic, tp.partition) for tps in committed.values() for tp in tps}
        if all_topics:
            partitions.update(self.all_partitions())
        ends = self.end_offsets(partitions)
        return LagSnapshot(rows_of(committed, ends), ends)


def deployment_groups(settings: Settings) -> dict[str, tuple[str, ...]]:
    """The consumer groups of the settings' app id, each with the broker names of the topics it consumes."""
    from streams.consumer_groups import groups_of  # (the processors' modules: only when lag is read)

    physical = settings.topic_names.physical
    return {group: tuple(physical(t) for t in topics) for group, topics in groups_of(settings.app_id).items()}


def with_uncommitted(committed: Mapping[str, list[TopicPartition]], expected: Mapping[str, Iterable[str]],
                     partitions: Iterable[tuple[str, int]]) -> dict[str, list[TopicPartition]]:
    """``committed`` plus, for each of its groups that is ``expected``, a never-committed offset for every partition
    (of ``partitions``: what exists) of its topics that it has no commit on. A group that never committed at all
    (a processor stuck or down before its first commit) gets every partition: it had no row, and so no lag for
    an alert to see. (Its groups are the broker's: a group that does not exist is not asked about.)"""
    existing: dict[str, list[int]] = {}
    for topic, partition in partitions:
        existing.setdefault(topic, []).append(partition)
    found = {group: list(tps) for group, tps in committed.items()}
    for group, tps in found.items():
        have = {(tp.topic, tp.partition) for tp in tps}
        tps += [TopicPartition(topic, p, OFFSET_INVALID) for topic in expected.get(group, ())
                for p in sorted(existing.get(topic, ())) if (topic, p) not in have]
    return found


def rows_of(committed: Mapping[str, Iterable[TopicPartition]], ends: Mapping[tuple[str, int], int]) -> list[LagRow]:
    rows = [LagRow(group, tp.topic, tp.partition, tp.offset, ends[(tp.topic, tp.partition)])
            for group, tps in committed.items() for tp in tps if (tp.topic, tp.partition) in ends]
    return sorted(rows, key=lambda r: (r.group, r.topic, r.partition))


def consumer_lag(settings: Settings, only_group: str | None = None) -> list[LagRow]:
    """One reading of every group's (or ``only_group``'s) lag."""
    return LagReader(settings).read(only_group).rows


def format_table(rows: Iterable[LagRow]) -> list[str]:
    """Columns as wide as their widest value (a redrive's group name, 60 characters, broke the alignment)."""
    rows = list(rows)
    group = max([40, *(len(r.group) for r in rows)])
    topic = max([20, *(len(r.topic) for r in rows)])
    lines = [f"{'GROUP':{group}} {'TOPIC':{topic}} {'PART':>4} {'COMMITTED':>10} {'END':>10} {'LAG':>8}"]
    lines += [f"{r.group:{group}} {r.topic:{topic}} {r.partition:>4} {r.shown_committed:>10} {r.end:>10} {r.lag:>8}"
              for r in rows]
    return lines
