"""What Kafka says about the simulation, read once a second: end offsets of the namespace's topics (events per
second are their deltas), of their ``.dlq`` topics, and the committed offsets of this app id's consumer groups
(lag, and whether the worker has applied a given position yet).

Blocking admin calls through one :class:`photostream.lag.LagReader`; callers run :meth:`KafkaObserver.read` in a
thread. The arithmetic on readings is pure (unit-tested).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from photostream.contracts.catalog import DLQ_SUFFIX, TOPICS
from photostream.lag import LagReader
from photostream.settings import Settings
from streams.consumer_groups import groups_of

Position = tuple[str, int]  # (catalog topic, partition)


@dataclass(frozen=True)
class Reading:
    at: float
    ends: dict[Position, int]  # every catalog topic's and DLQ's partitions
    committed: dict[tuple[str, str, int], int]  # (group, catalog topic, partition) -> committed (-1: never)

    def topic_totals(self) -> dict[str, int]:
        totals: dict[str, int] = defaultdict(int)
        for (topic, _), end in self.ends.items():
            totals[topic] += end
        return dict(totals)

    def group_lag(self) -> dict[str, int]:
        lag: dict[str, int] = defaultdict(int)
        for (group, topic, partition), committed in self.committed.items():
            lag[group] += max(0, self.ends.get((topic, partition), 0) - max(committed, 0))
        return dict(lag)


def rates(before: Reading, after: Reading) -> dict[str, float]:
    """Events per second per topic between two readings."""
    seconds = after.at - before.at
    if seconds <= 0:
        return {}
    old = before.topic_totals()
    return {topic: (total - old.get(topic, total)) / seconds for topic, total in after.topic_totals().items()}


def remaining(reading: Reading, targets: Mapping[Position, int], groups: Mapping[str, tuple[str, ...]]) -> int:
    """Records below ``targets`` that some group of ``groups`` reading their topic has not committed yet."""
    left = 0
    for group, topics in groups.items():
        for (topic, partition), target in targets.items():
            if topic in topics:
                left += max(0, target - max(reading.committed.get((group, topic, partition), 0), 0))
    return left


#: how long one of the dashboard's once-a-second readings waits for the broker: a tick that waited the commands'
#: KAFKA_ADMIN_TIMEOUT_S (10 s, twice per reading) held Ctrl-C ~20 s when the broker had gone
READING_TIMEOUT_S = 3.0


class KafkaObserver:
    def __init__(self, settings: Settings) -> None:
        timeout = min(settings.kafka_admin_timeout_s, READING_TIMEOUT_S)
        self.reader = LagReader(settings.model_copy(update={"kafka_admin_timeout_s": timeout}))
        self.names = settings.topic_names
        self.groups = groups_of(settings.app_id)
        self.catalog = {spec.name for spec in TOPICS} | {spec.dlq for spec in TOPICS}
        self._partitions: list[tuple[str, int]] = []

    def read(self) -> Reading:
        if not self._partitions:
            self._partitions = [(topic, p) for topic, p in self.reader.all_partitions()
                                if self.names.owns(topic) and self.names.logical(topic) in self.catalog]
        committed = self.reader.committed(list(self.groups))
        ends = self.reader.end_offsets(self._partitions)
        logical = self.names.logical
        return Reading(
            at=time.monotonic(),
            ends={(logical(topic), p): end for (topic, p), end in ends.items()},
            committed={(group, logical(tp.topic), tp.partition): tp.offset
                       for group, tps in committed.items() for tp in tps if self.names.owns(tp.topic)})


def is_dlq(topic: str) -> bool:
    return topic.endswith(DLQ_SUFFIX)
