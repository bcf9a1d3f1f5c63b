"""Create the catalog's topics (and their DLQs) on the cluster; re-running changes nothing."""

from __future__ import annotations

import logging

from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from photostream.contracts.catalog import DLQ_CONFIG, DLQ_PARTITIONS, TOPICS
from photostream.kafka_config import client_config
from photostream.settings import Settings

log = logging.getLogger(__name__)


def desired_topics(settings: Settings) -> list[NewTopic]:
    """Every catalog topic and its ``.dlq``, with the catalog's partitions and configs, named for the settings'
    namespace."""
    replication, name = settings.kafka_replication_factor, settings.topic_names.physical
    topics = []
    for spec in TOPICS:
        topics.append(NewTopic(name(spec.name), spec.partitions, replication, config=dict(spec.config)))
        topics.append(NewTopic(name(spec.dlq), DLQ_PARTITIONS, replication, config=dict(DLQ_CONFIG)))
    return topics


def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create the topics that are missing; return the names created (empty when all existed)."""
    admin = AdminClient(client_config(settings))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [t for t in desired_topics(settings) if t.topic not in existing]
    if not missing:
        return []
    futures = admin.create_topics(missing, operation_timeout=timeout_s, request_timeout=timeout_s)
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except Exception as exc:  # a concurrent creator is fine; anything else is not
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise
    log.info("created %d topics", len(created))
    return created
