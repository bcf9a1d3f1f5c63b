"""A projector: a faust agent that applies each event of some topics to a sink, one at a time.

For views written once per entity (profiles, posts): faust commits offsets after the agent finished the
events, the sinks are idempotent (absolute upserts timestamped with the event time, so their order does not
matter), and the applied-offset mark is written after the data. A record that cannot be decoded or
applied goes to its topic's DLQ and the stream goes on. A store that fails (Cassandra or Redis unreachable,
a timeout) is retried with backoff, for as long as it takes: the agent never gives up on an event, since a
crashed faust agent's buffered events would be acknowledged without their effects (events lost).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Protocol

import faust

from photostream.contracts.catalog import is_tombstone
from photostream.settings import Settings
from producers.dlq import PoisonRecord, as_header_list
from producers.events import event_type
from sinks import offsets
from streams.engine.dead_letters import Rejected, dead_letter_batch
from streams.engine.placement import Placement
from streams.engine.poison import POISON_ERRORS
from streams.engine.records import cap_at_the_log
from streams.metrics import BATCH_FAILURES, TopicMetrics
from streams.resources import Resources

log = logging.getLogger(__name__)
BUFFER_MAX = 200
BUFFER_WITHIN_S = 0.02
#: backoff between attempts at a failing store
RETRY_FIRST_S, RETRY_MAX_S = 0.5, 30.0


async def until_done(what: str, attempt: Callable[[], Awaitable[None]], failures: Any) -> None:
    """Run ``attempt`` until it succeeds; record-shaped errors (``POISON_ERRORS``) are the caller's to handle,
    anything else (a store outage) is logged, counted and retried with exponential backoff."""
    backoff = RETRY_FIRST_S
    while True:
        try:
            await attempt()
            return
        except POISON_ERRORS:
            raise
        except Exception as exc:  # a store outage: never skip the event, wait and try again
            failures.inc()
            log.warning("%s failed (%s: %s); retrying in %.1fs", what, type(exc).__name__, exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, RETRY_MAX_S)


class EventSink(Protocol):
    async def apply(self, topic: str, event: dict[str, Any]) -> None: ...


def register_projector(
    app: faust.App, settings: Settings, name: str, topics: tuple[str, ...],
    make_sink: Callable[[Resources], EventSink],
) -> None:
    """Attach an agent named ``name`` that feeds ``topics`` into the sink built by ``make_sink``."""
    names = settings.topic_names
    topic = app.topic(*names.physicals(topics), key_type=bytes, value_type=bytes, value_serializer="raw",
                      key_serializer="raw")

    @app.agent(topic, name=f"{settings.app_id}.{name}", concurrency=1)
    async def project(stream: Any) -> None:
        resources = Resources.open(settings)
        sink = make_sink(resources)
        # the batch loops' check (streams.engine.placement): a record they refuse is not applied here either
        placement = Placement({names.physical(t): t for t in topics}, resources.publisher.partition_counts)
        await asyncio.to_thread(placement.learn)
        metrics = TopicMetrics(name, topics)
        failures = BATCH_FAILURES.labels(name)

        async def apply_in_order(events: list[Any], dead: list[Rejected]) -> None:
            """One key's events, in offset order (a key's events must not overtake each other); the poison ones
            are added to ``dead``."""
            for event in events:
                message = event.message
                topic_name = names.logical(message.topic)  # the catalog's name, whatever the namespace
                if is_tombstone(topic_name, event.value):  # a deletion on a compacted topic: nothing to apply
                    continue
                try:
                    record = resources.codec.decode(topic_name, event.value or b"")  # a null record: DecodeError
                    event_type(topic_name).check_ids(record)
                    placement.check(message.topic, message.partition, message.key, record)
                    if message.timestamp:  # (seconds, as faust gives it)
                        cap_at_the_log(record, int(message.timestamp * 1000))
                    await until_done(f"{name}: applying {topic_name}/{message.partition}@{message.offset}",
                                     partial(sink.apply, topic_name, record), failures)
                    metrics.applied(topic_name, (record.get("occurred_at"),))
                except POISON_ERRORS as exc:
                    dead.append((PoisonRecord(topic_name, message.partition, message.offset, message.key,
                                              event.value, as_header_list(message.headers)), exc))

        try:
            # Small buffers let different keys' writes overlap (the sinks are I/O bound); faust acks the
            # buffered events only after this loop body finished them.
            async for batch in stream.take_events(BUFFER_MAX, within=BUFFER_WITHIN_S):
                started = time.perf_counter()
                by_key: dict[Any, list[Any]] = defaultdict(list)
                for event in batch:
                    by_key[(event.message.topic, event.message.key)].append(event)
                dead: list[Rejected] = []
                await asyncio.gather(*(apply_in_order(events, dead) for events in by_key.values()))
                await dead_letter_batch(resources.publisher, dead, name)  # acknowledged before faust acks the batch
                highest: dict[tuple[str, int], int] = {}
                for event in batch:
                    tp = (event.message.topic, event.message.partition)
                    highest[tp] = max(highest.get(tp, -1), event.message.offset)
                for (physical, partition), offset in highest.items():
                    await until_done(f"{name}: marking {physical}/{partition}@{offset} applied",
                                     partial(offsets.advance, resources.redis, name, names.logical(physical),
                                             partition, offset), failures)
                metrics.batch_seconds.observe(time.perf_counter() - started)
        finally:
            await resources.close()
