"""Consumer lag per group/topic/partition: what SREs watch."""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from photostream.kafka_config import client_config
from photostream.settings import Settings


@dataclass(frozen=True)
class LagRow:
    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return self.end - max(self.committed, 0)


def consumer_lag(settings: Settings, only_group: str | None = None) -> list[LagRow]:
    admin = AdminClient(client_config(settings))
    groups = [only_group] if only_group else sorted(
        g.group_id for g in admin.list_consumer_groups(request_timeout=10).result().valid
        if not g.group_id.startswith("photostream-tail-")
    )
    probe = Consumer(client_config(settings, **{"group.id": "photostream-lag-probe", "enable.auto.commit": False}))
    rows: list[LagRow] = []
    try:
        for group in groups:
            future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
            for tp in future.result().topic_partitions or []:
                _, high = probe.get_watermark_offsets(TopicPartition(tp.topic, tp.partition), timeout=10)
                rows.append(LagRow(group, tp.topic, tp.partition, tp.offset, high))
    finally:
        probe.close()
    return sorted(rows, key=lambda r: (r.group, r.topic, r.partition))
