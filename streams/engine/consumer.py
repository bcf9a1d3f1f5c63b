"""The batch consumers' Kafka configuration, and why its group protocol and assignor are these.

Co-partitioning: a processor that reads several topics (popularity: ``like-changed`` + ``comment-added``;
the extractor: ``post-created`` + ``post-deleted``) read-modify-writes one entity's state from all of them,
so partition *i* of every input topic must have one owner. Equal keys and equal partition counts (checked by
:func:`check_co_partitioned` against the catalog) put one entity's events on the same partition number;
the assignor must then hand partition *i* of every topic to the same member:

- librdkafka's ``range`` assignor does: per topic it sorts the members subscribed to it and gives each a
  contiguous range of partition numbers, so with the same subscription and partition count every topic is
  split identically. It is an eager protocol: every rebalance revokes everything, and the group cannot hand
  a partition to a new owner until the old one has served its revocation in ``consume()``. That is a fence
  (a loop that is writing is not polling, so its partitions cannot move under it) and the batch loop relies
  on it (see ``streams.engine.loop``).
- ``cooperative-sticky`` (the previous choice) balances each topic independently: partition *i* of
  ``like-changed`` and of ``comment-added`` may land on different workers, which then lose each other's
  updates to the same post.
- KIP-848 (``group.protocol=consumer``, server-side ``range``) would co-partition too and rebalance
  incrementally, but its session timeout is a broker setting bounded by ``group.consumer.min.session.timeout.ms``
  (45 s by default on Kafka 4.1.1, checked on the local stack), so a crashed worker's partitions would stay
  idle ~45 s: far from the 10 s recovery goal without changing every broker's configuration. The classic
  protocol's minimum session (``group.min.session.timeout.ms``) is 6 s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from confluent_kafka import KafkaError, TopicPartition

from photostream.contracts.catalog import topic as catalog_topic
from photostream.kafka_config import client_config
from photostream.settings import Settings

log = logging.getLogger(__name__)

#: the broker's minimum (``group.min.session.timeout.ms``): a crashed worker's partitions move after 6 s
SESSION_TIMEOUT_MS = 6_000
ASSIGNOR = "range"


class NotCoPartitionedError(ValueError):
    """Topics a processor co-consumes have different partition counts."""


def check_co_partitioned(topics: Iterable[str], partitions_of: Callable[[str], int] | None = None) -> int:
    """The common partition count of ``topics`` (from the catalog); raises if they differ (range would then
    give partition *i* of two topics to different members)."""
    count = partitions_of or (lambda name: catalog_topic(name).partitions)
    counts = {name: count(name) for name in topics}
    if len(set(counts.values())) > 1:
        raise NotCoPartitionedError(f"co-consumed topics need equal partition counts: {counts}")
    return next(iter(counts.values()))


def static_membership(instance_id: str | None) -> dict[str, str]:
    """``group.instance.id`` (KIP-345), for a worker with a name it keeps across restarts.

    Why: a restarted worker joining as a new member triggers a rebalance that waits for its dead predecessor's
    session to expire (6 s), and the eager ``range`` assignor stops every member of the group meanwhile (its
    restart-to-ready was 11.7 s in benchmark 6). A static member that comes back within the session takes its
    old assignment at once and nobody else rebalances. The price: a static member leaving for good (scaled
    down) does not leave the group; its partitions move once its session expires, as after a crash. Two live
    processes with one instance id fence each other: the broker refuses the older one (fatal, see
    ``BatchLoop``)."""
    return {"group.instance.id": instance_id} if instance_id else {}


def log_failed_commit(error: KafkaError | None, partitions: list[TopicPartition]) -> None:
    """librdkafka's report of an asynchronous commit (served inside ``consume()``): only failures are news.

    A failed commit loses nothing: the records after the last commit that did land are re-applied by whoever
    owns the partition next, and every processor is idempotent."""
    failed = [p for p in partitions if p.error is not None]
    if error is not None or failed:
        log.warning("offset commit failed (the records will be re-applied idempotently): %s %s", error,
                    [f"{p.topic}[{p.partition}]: {p.error}" for p in failed])


def consumer_config(settings: Settings, group: str, instance_id: str | None = None) -> dict[str, Any]:
    """Manual commits only after the sinks flushed, sent asynchronously (see ``BatchLoop._commit``); a short
    fetch backoff (librdkafka's default stalls ~1 s). With ``instance_id`` (a worker's
    ``WORKER_INSTANCE_ID``), the consumer is a static member: see :func:`static_membership`."""
    return client_config(settings, **static_membership(instance_id), **{
        "on_commit": log_failed_commit,
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "fetch.queue.backoff.ms": 10,
        "session.timeout.ms": SESSION_TIMEOUT_MS,
        "heartbeat.interval.ms": 1_000,
        "max.poll.interval.ms": 300_000,
        "partition.assignment.strategy": ASSIGNOR,
    })
