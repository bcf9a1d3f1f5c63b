"""Publishing events: idempotent, acknowledged by all in-sync replicas, never silently dropped.

One confluent-kafka producer per process, with a background thread serving delivery reports. Every publish
returns a future that resolves to the record's partition/offset only once the broker acknowledged it, and
fails (``PublishTimeoutError``/``PublishError``) otherwise. ``publish`` blocks on it, ``publish_async`` awaits
it, ``submit`` hands it back for pipelining many events.
"""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from photostream.kafka_config import client_config
from photostream.settings import Settings
from producers.events import Event


class PublishError(RuntimeError):
    """The broker refused the record."""


class PublishTimeoutError(PublishError):
    """The broker did not acknowledge in time (the API answers 503 with Retry-After)."""


@dataclass(frozen=True)
class PublishResult:
    """Where an acknowledged record landed."""

    topic: str
    partition: int
    offset: int
    event_id: str


def producer_config(settings: Settings) -> dict[str, Any]:
    """Durable, ordered, idempotent production; the message timeout bounds how long a publish can hang."""
    return client_config(
        settings,
        **{
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.timeout.ms": int(settings.publish_timeout_s * 1000),
            "queue.buffering.max.messages": 500_000,
        },
    )


class Publisher:
    """Encodes events with their topic's schema and produces them keyed by the catalog."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer = Producer(producer_config(settings))
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._serve_delivery_reports, name="publisher-poll", daemon=True)
        self._poller.start()

    def _serve_delivery_reports(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)

    def submit(self, event: Event, headers: dict[str, bytes] | None = None) -> Future[PublishResult]:
        """Queue ``event`` (already encoded by its constructor); the future resolves on the broker's ack."""
        return self.submit_raw(event.topic, event.key.encode(), event.payload, event.event_id, headers)

    def submit_raw(
        self, topic: str, key: bytes | None, payload: bytes, event_id: str = "",
        headers: dict[str, bytes] | None = None,
    ) -> Future[PublishResult]:
        """Queue already-encoded bytes (used by the DLQ helper, which must keep a record's bytes as they were)."""
        future: Future[PublishResult] = Future()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is None:
                future.set_result(PublishResult(topic, message.partition() or 0, message.offset() or 0, event_id))
            elif error.code() == KafkaError._MSG_TIMED_OUT:
                future.set_exception(PublishTimeoutError(f"{topic}: broker did not acknowledge: {error.str()}"))
            else:
                future.set_exception(PublishError(f"{topic}: {error.str()}"))

        deadline = time.monotonic() + self._settings.publish_timeout_s
        while True:
            try:
                if headers:
                    self._producer.produce(topic, payload, key, on_delivery=on_delivery, headers=list(headers.items()))
                else:
                    self._producer.produce(topic, payload, key, on_delivery=on_delivery)
                # Serve ready delivery reports on the caller's thread: cheaper than waking the poll thread
                # for each one when many records are in flight (the poll thread covers idle periods).
                self._producer.poll(0)
                return future
            except BufferError:
                if time.monotonic() > deadline:
                    raise PublishTimeoutError(f"{topic}: local queue full for {self._settings.publish_timeout_s}s") \
                        from None
                time.sleep(0.005)
            except KafkaException as exc:
                raise PublishError(f"{topic}: {exc}") from exc

    def publish(self, event: Event) -> PublishResult:
        """Publish and wait for the acknowledgement."""
        return self.submit(event).result(timeout=self._settings.publish_timeout_s + 5)

    async def publish_async(self, event: Event) -> PublishResult:
        """Publish without blocking the event loop; raises like :meth:`publish`."""
        future = self.submit(event)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self._settings.publish_timeout_s + 5)
        except TimeoutError:
            raise PublishTimeoutError(f"{event.topic}: no delivery report in time") from None

    def flush(self, timeout_s: float | None = None) -> int:
        """Wait for everything queued; return how many records are still undelivered."""
        return int(self._producer.flush(self._settings.publish_timeout_s if timeout_s is None else timeout_s))

    def close(self) -> None:
        """Flush on shutdown, then stop the delivery thread."""
        self.flush()
        self._closed.set()
        self._poller.join(timeout=2)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
