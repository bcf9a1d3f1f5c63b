"""Create the catalog's topics (and their DLQs) on the cluster; re-running changes nothing."""

from __future__ import annotations

import logging

from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
)

from photostream.contracts.catalog import DLQ_CONFIG, DLQ_PARTITIONS, TOPICS
from photostream.kafka_config import client_config
from photostream.settings import Settings

log = logging.getLogger(__name__)

TIMESTAMP_TYPE = "message.timestamp.type"


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
    """Create the topics that are missing; return the names created (empty when all existed). Topics created
    before their records were stamped by the broker are switched to it (:func:`stamp_by_the_broker`)."""
    admin = AdminClient(client_config(settings))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = desired_topics(settings)
    stamp_by_the_broker(admin, [t for t in wanted if t.topic in existing], timeout_s)
    missing = [t for t in wanted if t.topic not in existing]
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


def stamp_by_the_broker(admin: AdminClient, topics: list[NewTopic], timeout_s: float) -> None:
    """Give existing topics the catalog's ``message.timestamp.type`` (the broker's append time), leaving every
    other setting as an operator may have changed it. Why: consumers cap an event's time at its record's
    (``streams.engine.records.cap_at_the_log``), which only holds against a producer's clock running ahead once
    the broker stamps the records; a stack made before that stamped by the producers' clocks."""
    stamped = {t.topic: (t.config or {})[TIMESTAMP_TYPE] for t in topics if TIMESTAMP_TYPE in (t.config or {})}
    if not stamped:
        return
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in stamped]
    described = admin.describe_configs(resources, request_timeout=timeout_s)
    stale = [r for r, future in described.items() if future.result()[TIMESTAMP_TYPE].value != stamped[r.name]]
    if not stale:
        return
    altered = admin.incremental_alter_configs([
        ConfigResource(ConfigResource.Type.TOPIC, r.name, incremental_configs=[ConfigEntry(
            TIMESTAMP_TYPE, stamped[r.name], incremental_operation=AlterConfigOpType.SET)]) for r in stale])
    for future in altered.values():
        future.result(timeout=timeout_s)
    log.info("%d topics now stamped by the broker's append time", len(stale))
