"""Publishing events: idempotent, acknowledged by all in-sync replicas, never silently dropped.

One confluent-kafka producer per process, with a background thread serving delivery reports. Every publish
is tracked until the broker acknowledged it, and fails (``PublishTimeoutError``/``PublishError``) otherwise:
``publish`` blocks on one event, ``publish_async`` awaits one, ``submit`` hands back one future per event,
and ``submit_many`` one future for a whole batch: the pipelining path, which allocates nothing per event
(a ``concurrent.futures.Future`` with its lock costs about as much as producing the record, and keeps the
garbage collector busy while thousands are in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from photostream.contracts.catalog import DLQ_MAX_MESSAGE_BYTES
from photostream.kafka_config import client_config
from photostream.settings import Settings
from producers.events import Event
from producers.metrics import produce_failed, produced, produced_many
from producers.partitioning import partition_counts

logger = logging.getLogger(__name__)

#: what a produce request adds around its records (librdkafka counts it against ``message.max.bytes``)
_REQUEST_OVERHEAD = 64 * 1024
#: a batch's caller serves delivery reports after every this many records (see _serve_delivery_reports)
_SERVE_EVERY = 1000


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


#: the key → partition hash of the Java client (Kafka's default): an upstream service producing with any Kafka
#: client's default puts a key on the same partition as the SDK, which the co-partitioned topics rely on
#: (librdkafka's own default, CRC32, sent one user's ON_MSG_UNSENT and MESSAGES_READ to different partitions
#: when the other side was a Java producer)
PARTITIONER = "murmur2_random"


def producer_config(settings: Settings) -> dict[str, Any]:
    """Durable, ordered, idempotent production; the message timeout bounds how long a publish can hang."""
    return client_config(
        settings,
        **{
            "partitioner": PARTITIONER,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "message.timeout.ms": int(settings.publish_timeout_s * 1000),
            "queue.buffering.max.messages": 500_000,
        },
    )


def delivery_error(topic: str, error: KafkaError) -> PublishError:
    """The exception a failed delivery report becomes (counted by the catalog topic's name)."""
    produce_failed(topic)
    if error.code() == KafkaError._MSG_TIMED_OUT:
        return PublishTimeoutError(f"{topic}: broker did not acknowledge: {error.str()}")
    if error.code() in (KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT):
        return PublishTimeoutError(f"{topic}: not acknowledged before the publisher closed (it may still land: "
                                   f"publish again with the same event id)")
    return PublishError(f"{topic}: {error.str()}")


#: Kafka record headers, as the producer takes them
Headers = list[tuple[str, str | bytes | None]]


class RawRecord(NamedTuple):
    """One record of a raw batch (:meth:`Publisher.submit_raw_many`): already-encoded bytes for a catalog topic."""

    topic: str
    key: bytes | str | None
    payload: bytes | None  # None: a null record (a tombstone), sent as null
    headers: Headers | None = None


class _BatchTracker:
    """Counts one batch's delivery reports; settles the batch's future once the last one is in.

    One bound method serves as every message's delivery callback, so a batch costs no per-event object.
    Reports arrive on whichever thread polls (the caller's or the delivery thread), so the count is an
    ``itertools.count`` (atomic under the GIL) rather than ``+= 1``. Asked to (``places``), it also keeps the
    highest offset written to each (topic, partition): what a read waiting for the batch's cause must wait for.
    """

    __slots__ = ("_count", "_error", "_logical", "_places_lock", "_size", "_topic", "future", "places")

    def __init__(self, size: int, logical: Callable[[str], str] = str,
                 places: dict[tuple[str, int], int] | None = None) -> None:
        self._size = size
        self._logical = logical
        self._count = itertools.count(1)
        self._error: PublishError | None = None
        self.future: Future[int] = Future()
        self.places = places
        self._places_lock = threading.Lock() if places is not None else None

    def report(self, error: KafkaError | None, message: Message) -> None:
        if error is not None and self._error is None:
            self._error = delivery_error(self._logical(message.topic() or "?"), error)
        elif error is None and self.places is not None:
            self._place(message)
        if next(self._count) == self._size:
            if self._error is None:
                self.future.set_result(self._size)
            else:
                self.future.set_exception(self._error)

    def _place(self, message: Message) -> None:
        assert self.places is not None and self._places_lock is not None
        place, offset = (self._logical(message.topic() or "?"), message.partition() or 0), message.offset() or 0
        with self._places_lock:  # (two threads may be serving reports)
            if offset > self.places.get(place, -1):
                self.places[place] = offset


class _ErrorOnlyLane:
    """A second producer for raw batches (poison records on their way to a DLQ), reporting failures only.

    A DLQ storm parks tens of thousands of records; a Python delivery report for each cost ~2 µs of the ~15 µs a
    record took. Here the broker's acknowledgement of a whole batch is a flush that finds nothing outstanding,
    and only a failed record calls back. Batches go one at a time on the lane's own thread (so a flush waits for
    its own batch alone, and the caller's event loop does not stall while 50,000 records are queued).
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # (records as large as a DLQ takes: a source record near the broker's 1 MiB, with the DLQ's headers)
        self._producer = Producer({**producer_config(settings), "delivery.report.only.error": True,
                                   "message.max.bytes": DLQ_MAX_MESSAGE_BYTES + _REQUEST_OVERHEAD})
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="publisher-raw")

    def submit(self, records: Sequence[RawRecord]) -> Future[int]:
        return self._thread.submit(self._send_all, records)

    def _send_all(self, records: Sequence[RawRecord]) -> int:
        failures: list[PublishError] = []
        logical = self._settings.topic_names.logical

        def failed(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failures.append(delivery_error(logical(message.topic() or "?"), error))

        produce, physical = self._producer.produce, self._settings.topic_names.physical
        names = {topic: physical(topic) for topic in {record.topic for record in records}}  # (a storm: one DLQ)
        for record in records:
            while True:
                try:
                    produce(names[record.topic], record.payload, record.key, on_delivery=failed,
                            headers=record.headers)
                    break
                except BufferError:  # the local queue is full: serving reports frees it
                    self._producer.poll(0.005)
                except KafkaException as exc:
                    raise PublishError(f"{record.topic}: {exc}") from exc
        if self._producer.flush(self._settings.publish_timeout_s):
            raise PublishTimeoutError(f"{len(records)} raw record(s) not acknowledged in "
                                      f"{self._settings.publish_timeout_s}s")
        if failures:
            raise failures[0]
        produced_many(record.topic for record in records)
        return len(records)

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self._producer.flush(self._settings.publish_timeout_s)


class Publisher:
    """Produces already-encoded events keyed by the catalog, and tracks their acknowledgements."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        #: events name the catalog's topics; the broker's (namespaced) names are applied here, at the edge
        self._physical = settings.topic_names.physical
        self._producer = Producer(producer_config(settings))
        self._closed = threading.Event()
        self._closing = threading.Event()  # set first by close(): no new record from then on
        self._batches_lock = threading.Lock()
        self._batches = 0  # submit_many calls under way: their callers serve the reports meanwhile
        self._no_batches = threading.Event()
        self._no_batches.set()
        self._poller = threading.Thread(target=self._serve_delivery_reports, name="publisher-poll", daemon=True)
        self._poller.start()
        #: created by the first raw batch: most processes never park a record
        self._raw_lane: _ErrorOnlyLane | None = None
        self._raw_lane_lock = threading.Lock()

    def _serve_delivery_reports(self) -> None:
        """Serve reports when nobody else does. While a batch is being queued its caller polls instead:
        two threads taking turns at the GIL for every few reports cost the batch more than serving them
        itself (on a loaded machine, each hand-over can wait a scheduler slice)."""
        while not self._closed.is_set():
            if not self._no_batches.wait(0.05):
                continue
            try:
                self._producer.poll(0.05)
            except Exception:  # a caller's callback raised: keep serving everyone else's reports
                logger.exception("delivery report handler failed")

    def submit(self, event: Event, headers: dict[str, bytes] | None = None) -> Future[PublishResult]:
        """Queue ``event`` (already encoded by its constructor); the future resolves on the broker's ack."""
        return self.submit_raw(event.topic, event.key, event.payload, event.event_id, headers)

    def submit_raw_many(self, records: Sequence[RawRecord]) -> Future[int]:
        """:meth:`submit_many` for already-encoded bytes with headers (the DLQ helper's batch path), on a lane
        of their own that reports failures only (:class:`_ErrorOnlyLane`)."""
        self._refuse_if_closed()  # (a closed publisher opened a new lane, or raised its pool's RuntimeError)
        if not records:
            done: Future[int] = Future()
            done.set_result(0)
            return done
        return self.open_raw_lane().submit(records)

    def open_raw_lane(self) -> _ErrorOnlyLane:
        """The raw lane, created on first use. Processes that park poison records (the worker) open it at
        start-up: a new producer's first batch waits ~0.3 s for its connection and idempotence handshake."""
        with self._raw_lane_lock:
            if self._raw_lane is None:
                self._raw_lane = _ErrorOnlyLane(self._settings)
            return self._raw_lane

    def submit_many(self, events: Sequence[Event], places: dict[tuple[str, int], int] | None = None) -> Future[int]:
        """Queue every event; one future resolves to their count once all are acknowledged, or fails with
        the first failed delivery once every report is in. For pipelining: callers that need each event's
        partition and offset use :meth:`submit`. One tracker and one bound callback serve all of them; the
        caller's thread serves the delivery reports while it queues. (Fields read as attributes, not unpacked
        into tuples: this is the SDK's hot loop, and a tuple per event cost it ~100 ns.) ``places``: filled, by the
        time the future resolves, with the highest offset written to each (topic, partition)."""
        self._refuse_if_closed()
        tracker = _BatchTracker(len(events), self._settings.topic_names.logical, places)
        if not events:
            tracker.future.set_result(0)
            return tracker.future
        report, produce, poll, physical = tracker.report, self._producer.produce, self._producer.poll, self._physical
        self._batch_started()
        try:
            for start in range(0, len(events), _SERVE_EVERY):
                for event in events[start:start + _SERVE_EVERY]:
                    try:
                        produce(physical(event.topic), event.payload, event.key, on_delivery=report)
                    except BufferError:
                        self._produce_when_room(event.topic, event.payload, event.key, report, None)
                    except KafkaException as exc:
                        raise PublishError(f"{event.topic}: {exc}") from exc
                poll(0)  # this batch's (and anyone's) ready reports, on this thread
        finally:
            self._batch_ended()
        produced_many(event.topic for event in events)
        return tracker.future

    async def acknowledged(self, events: Sequence[Event], timeout_s: float) -> dict[tuple[str, int], int]:
        """Queue ``events`` and return once the broker acknowledged every one; a failed delivery raises. What a
        processor awaits before committing the offsets of the records that caused the events: one future for
        all of them (a future per event cost more than encoding it) and one flush, off the event loop.
        Returns the highest offset written to each (topic, partition): where the events landed, for
        :func:`sinks.offsets.advance_all`'s ``derived``."""
        places: dict[tuple[str, int], int] = {}
        if not events:
            return places
        done = self.submit_many(events, places)
        await asyncio.to_thread(self.flush)
        done.result(timeout=timeout_s)
        return places

    def _batch_started(self) -> None:
        with self._batches_lock:
            self._batches += 1
            self._no_batches.clear()

    def _batch_ended(self) -> None:
        with self._batches_lock:
            self._batches -= 1
            if not self._batches:
                self._no_batches.set()

    def submit_raw(
        self, topic: str, key: bytes | str | None, payload: bytes | None, event_id: str = "",
        headers: dict[str, bytes] | None = None,
    ) -> Future[PublishResult]:
        """Queue already-encoded bytes (used by the DLQ helper, which must keep a record's bytes as they were),
        or a null record (an account purge's tombstones)."""
        future: Future[PublishResult] = Future()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is None:
                future.set_result(PublishResult(topic, message.partition() or 0, message.offset() or 0, event_id))
            else:
                future.set_exception(delivery_error(topic, error))

        self._produce(topic, payload, key, on_delivery, list(headers.items()) if headers else None)
        return future

    def _refuse_if_closed(self) -> None:
        """After :meth:`close` nothing serves delivery reports: a publish would wait out its whole timeout. From
        the moment it starts, too: a record queued while it flushed was neither purged nor served (its future
        never resolved)."""
        if self._closing.is_set():
            raise PublishError("the publisher is closed")

    def _produce(self, topic: str, payload: bytes | None, key: bytes | str | None,
                 callback: Callable[[KafkaError | None, Message], None], headers: Headers | None) -> None:
        self._refuse_if_closed()
        try:
            self._send(topic, payload, key, callback, headers)
        except BufferError:
            self._produce_when_room(topic, payload, key, callback, headers)
        except KafkaException as exc:
            raise PublishError(f"{topic}: {exc}") from exc
        produced(topic)

    def _send(self, topic: str, payload: bytes | None, key: bytes | str | None,
              callback: Callable[[KafkaError | None, Message], None], headers: Headers | None) -> None:
        if headers:
            self._producer.produce(self._physical(topic), payload, key, on_delivery=callback, headers=headers)
        else:
            self._producer.produce(self._physical(topic), payload, key, on_delivery=callback)

    def _produce_when_room(self, topic: str, payload: bytes | None, key: bytes | str | None,
                           callback: Callable[[KafkaError | None, Message], None],
                           headers: Headers | None) -> None:
        """The local queue is full: serve delivery reports (which frees it) until the record fits."""
        deadline = time.monotonic() + self._settings.publish_timeout_s
        while True:
            self._producer.poll(0.005)
            try:
                self._send(topic, payload, key, callback, headers)
                return
            except BufferError:
                if time.monotonic() > deadline:
                    raise PublishTimeoutError(f"{topic}: local queue full for {self._settings.publish_timeout_s}s") \
                        from None
            except KafkaException as exc:
                raise PublishError(f"{topic}: {exc}") from exc

    def publish(self, event: Event) -> PublishResult:
        """Publish and wait for the acknowledgement."""
        return self.submit(event).result(timeout=self._settings.publish_timeout_s + 5)

    async def publish_async(self, event: Event) -> PublishResult:
        """Publish without blocking the event loop; raises like :meth:`publish`."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[PublishResult] = loop.create_future()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is None:
                outcome: PublishResult | PublishError = PublishResult(
                    event.topic, message.partition() or 0, message.offset() or 0, event.event_id)
            else:
                outcome = delivery_error(event.topic, error)
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
                loop.call_soon_threadsafe(_settle, waiter, outcome)

        self._produce(event.topic, event.payload, event.key, on_delivery, None)
        try:
            return await asyncio.wait_for(waiter, self._settings.publish_timeout_s + 5)
        except TimeoutError:
            raise PublishTimeoutError(f"{event.topic}: no delivery report in time") from None

    def partition_counts(self, topics: list[str], timeout_s: float = 10.0) -> dict[str, int]:
        """The broker's partition count of each of these (broker) topics it has (a metadata round trip)."""
        return partition_counts(self._producer, topics, timeout_s)

    def flush(self, timeout_s: float | None = None) -> int:
        """Wait for everything queued; return how many records are still undelivered."""
        return int(self._producer.flush(self._settings.publish_timeout_s if timeout_s is None else timeout_s))

    def close(self, timeout_s: float | None = None) -> None:
        """Flush on shutdown (at most ``timeout_s``, default ``PUBLISH_TIMEOUT_S``), then stop the delivery
        thread. Records still unacknowledged after the flush (a broker gone) are purged, so each waiting future
        fails with :class:`PublishTimeoutError` instead of waiting forever (the delivery thread that would have
        resolved them stops here)."""
        self._closing.set()
        if self.flush(timeout_s):
            self._producer.purge(in_queue=True, in_flight=True)
            self._producer.flush(1)  # serves the purged records' reports: their futures fail now
        if self._raw_lane is not None:
            self._raw_lane.close()
        self._closed.set()
        self._poller.join(timeout=2)

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _settle(waiter: asyncio.Future[PublishResult], outcome: PublishResult | PublishError) -> None:
    """Runs on the event loop: resolve ``waiter`` unless it was already given up on (cancelled)."""
    if waiter.done():
        return
    if isinstance(outcome, PublishError):
        waiter.set_exception(outcome)
    else:
        waiter.set_result(outcome)
