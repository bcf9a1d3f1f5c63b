"""A projector: a faust agent that applies the events of some topics to a sink, a buffer of them at a time.

For views written once per entity (profiles, posts): faust commits offsets after the agent finished the
events, the sinks are idempotent (absolute upserts timestamped with the event time, so their order does not
matter: a buffer's events go to the stores together, in a few requests), and the applied-offset marks are
written after the data. A record that cannot be decoded or
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
from dataclasses import dataclass
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

    async def apply_many(self, events: list[tuple[str, dict[str, Any]]]) -> None: ...


@dataclass(frozen=True)
class Ready:
    """A buffered faust event decoded and checked: its catalog topic and record."""

    event: Any
    topic: str
    record: dict[str, Any]

    @property
    def key(self) -> tuple[str, Any]:
        return self.event.message.topic, self.event.message.key


def parked(event: Any, topic_name: str) -> PoisonRecord:
    """What the DLQ keeps of a faust event."""
    message = event.message
    return PoisonRecord(topic_name, message.partition, message.offset, message.key, event.value,
                        as_header_list(message.headers))


async def apply_buffer(name: str, sink: EventSink, ready: list[Ready], dead: list[Rejected],
                       failures: Any) -> list[Ready]:
    """Apply a buffer's records in a few requests (``sink.apply_many``: its writes are upserts stamped with their
    events' times, so grouping them keeps every order's outcome); returns those applied. A record the store
    refuses (a record-shaped error) sends the buffer through :func:`_one_at_a_time`, key by key, so that only the
    culprit is added to ``dead``. A store outage is retried (:func:`until_done`)."""
    if not ready:
        return []
    try:
        await until_done(f"{name}: applying {len(ready)} events",
                         partial(sink.apply_many, [(item.topic, item.record) for item in ready]), failures)
        return ready
    except POISON_ERRORS:
        by_key: dict[tuple[str, Any], list[Ready]] = defaultdict(list)
        for item in ready:
            by_key[item.key].append(item)
        done = await asyncio.gather(*(_one_at_a_time(name, sink, items, dead, failures)
                                      for items in by_key.values()))
        return [item for items in done for item in items]


async def _one_at_a_time(name: str, sink: EventSink, items: list[Ready], dead: list[Rejected],
                         failures: Any) -> list[Ready]:
    """One key's records in offset order (a key's events must not overtake each other); those applied."""
    applied = []
    for item in items:
        message = item.event.message
        try:
            await until_done(f"{name}: applying {item.topic}/{message.partition}@{message.offset}",
                             partial(sink.apply, item.topic, item.record), failures)
            applied.append(item)
        except POISON_ERRORS as exc:
            dead.append((parked(item.event, item.topic), exc))
    return applied


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

        def decoded(event: Any, dead: list[Rejected]) -> tuple[str, dict[str, Any]] | None:
            """The event's catalog topic and checked record; None for a tombstone (nothing to apply) or a poison
            record (added to ``dead``)."""
            message = event.message
            topic_name = names.logical(message.topic)  # the catalog's name, whatever the namespace
            if is_tombstone(topic_name, event.value):  # a deletion on a compacted topic: nothing to apply
                return None
            try:
                record = resources.codec.decode(topic_name, event.value or b"")  # a null record: DecodeError
                event_type(topic_name).check_ids(record)
                placement.check(message.topic, message.partition, message.key, record)
            except POISON_ERRORS as exc:
                dead.append((parked(event, topic_name), exc))
                return None
            if message.timestamp:  # (seconds, as faust gives it)
                cap_at_the_log(record, int(message.timestamp * 1000))
            return topic_name, record

        async def apply_batch(batch: list[Any], dead: list[Rejected]) -> None:
            ready = [Ready(event, *found) for event in batch if (found := decoded(event, dead)) is not None]
            for item in await apply_buffer(name, sink, ready, dead, failures):
                metrics.applied(item.topic, (item.record.get("occurred_at"),))

        try:
            # faust acks the buffered events only after this loop body finished them
            async for batch in stream.take_events(BUFFER_MAX, within=BUFFER_WITHIN_S):
                started = time.perf_counter()
                dead: list[Rejected] = []
                await apply_batch(batch, dead)
                await dead_letter_batch(resources.publisher, dead, name)  # acknowledged before faust acks the batch
                places = [(names.logical(e.message.topic), e.message.partition, e.message.offset) for e in batch]
                await until_done(f"{name}: marking {len(places)} records applied",
                                 partial(offsets.advance_all, resources.redis, name, places), failures)
                metrics.batch_seconds.observe(time.perf_counter() - started)
        finally:
            await resources.close()
