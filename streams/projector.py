"""A projector: a faust agent that applies each event of some topics to a sink, one at a time.

For low-volume views (profiles, posts): faust commits an offset after the agent finished its event, the sink
is idempotent, and the applied-offset mark is written after the data. A record that cannot be decoded or
applied goes to its topic's DLQ and the stream goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

import faust

from photostream.contracts.codec import DecodeError
from photostream.settings import Settings
from producers.dlq import PoisonRecord, dead_letter
from producers.validation import EventValidationError
from sinks import offsets
from streams.metrics import EVENTS_DEAD_LETTERED, EVENTS_PROCESSED
from streams.resources import Resources

log = logging.getLogger(__name__)

#: errors that mean "this record is bad", as opposed to "a store is down" (which must not be skipped)
POISON_ERRORS = (DecodeError, EventValidationError, KeyError, ValueError, TypeError)


class EventSink(Protocol):
    async def apply(self, topic: str, event: dict[str, Any]) -> None: ...


def register_projector(
    app: faust.App, settings: Settings, name: str, topics: tuple[str, ...],
    make_sink: Callable[[Resources], EventSink],
) -> None:
    """Attach an agent named ``name`` that feeds ``topics`` into the sink built by ``make_sink``."""
    topic = app.topic(*topics, key_type=bytes, value_type=bytes, value_serializer="raw", key_serializer="raw")

    @app.agent(topic, name=f"{settings.app_id}.{name}", concurrency=1)
    async def project(stream: Any) -> None:
        resources = Resources.open(settings)
        sink = make_sink(resources)
        try:
            async for event in stream.events():
                message = event.message
                try:
                    record = resources.codec.decode(message.topic, event.value)
                    await sink.apply(message.topic, record)
                    EVENTS_PROCESSED.labels(name, message.topic).inc()
                except POISON_ERRORS as exc:
                    poison = PoisonRecord(message.topic, message.partition, message.offset, message.key, event.value)
                    dead_letter(resources.publisher, poison, exc, name).result(timeout=30)
                    EVENTS_DEAD_LETTERED.labels(name, message.topic, type(exc).__name__).inc()
                    log.warning("dead-lettered %s/%s@%s: %s", message.topic, message.partition, message.offset, exc)
                await offsets.advance(resources.redis, name, message.topic, message.partition, message.offset)
        finally:
            await resources.close()
