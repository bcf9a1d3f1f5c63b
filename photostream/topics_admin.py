"""Create the catalog's topics (and their DLQs) on the cluster; re-running changes nothing."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection

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
MAX_MESSAGE_BYTES = "max.message.bytes"


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
    before a setting the code relies on get it (:func:`align_managed_configs`)."""
    admin = AdminClient(client_config(settings))
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = desired_topics(settings)
    align_managed_configs(admin, [t for t in wanted if t.topic in existing], timeout_s)
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
    await_leaders(admin, created, timeout_s)
    log.info("created %d topics", len(created))
    return created


#: seconds between two looks at the cluster's metadata while created topics get their leaders
_LOOK_AGAIN_S = 0.05


def await_leaders(admin: AdminClient, topics: Collection[str], timeout_s: float) -> None:
    """Return once every partition of ``topics`` has a leader in the broker's metadata. A created topic's
    future resolves when the controller has it, before the brokers' metadata do: a reader that asked at once
    was told the topic did not exist (a fresh namespace's first ``dlq`` run failed that way)."""
    deadline, waiting = time.monotonic() + timeout_s, set(topics)
    while waiting:
        known = admin.list_topics(timeout=timeout_s).topics
        waiting = {name for name in waiting if name not in known or known[name].error is not None
                   or not known[name].partitions
                   or any(p.leader < 0 for p in known[name].partitions.values())}
        if waiting and time.monotonic() > deadline:
            raise TimeoutError(f"{len(waiting)} created topics have no leader after {timeout_s:g} s: "
                               f"{', '.join(sorted(waiting)[:5])}")
        if waiting:
            time.sleep(_LOOK_AGAIN_S)


def align_managed_configs(admin: AdminClient, topics: list[NewTopic], timeout_s: float) -> None:
    """Give existing topics the catalog's settings that code relies on, leaving every other setting as an
    operator may have changed it: ``message.timestamp.type`` (the broker's append time: consumers cap an event's
    time at its record's, :func:`streams.engine.records.cap_at_the_log`, which only holds against a producer's
    clock running ahead once the broker stamps the records) and a DLQ's ``max.message.bytes`` (raised, never
    lowered: a source record near the broker's limit could not be parked). A stack made before either lacked it."""
    wanted = {t.topic: {k: v for k, v in (t.config or {}).items() if k in _MANAGED} for t in topics}
    wanted = {name: config for name, config in wanted.items() if config}
    if not wanted:
        return
    resources = [ConfigResource(ConfigResource.Type.TOPIC, name) for name in wanted]
    described = {r.name: future.result() for r, future in admin.describe_configs(
        resources, request_timeout=timeout_s).items()}
    changes = {name: [ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
                      for key, value in config.items() if _MANAGED[key](described[name][key].value, value)]
               for name, config in wanted.items()}
    changes = {name: entries for name, entries in changes.items() if entries}
    if not changes:
        return
    altered = admin.incremental_alter_configs([
        ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=entries)
        for name, entries in changes.items()])
    for future in altered.values():
        future.result(timeout=timeout_s)
    log.info("%d topics given the catalog's managed settings", len(changes))


def _differs(current: str, wanted: str) -> bool:
    return current != wanted


def _smaller(current: str, wanted: str) -> bool:
    return int(current) < int(wanted)


#: the settings :func:`align_managed_configs` keeps, each with whether the current value must change
_MANAGED: dict[str, Callable[[str, str], bool]] = {TIMESTAMP_TYPE: _differs, MAX_MESSAGE_BYTES: _smaller}
