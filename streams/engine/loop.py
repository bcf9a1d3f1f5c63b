"""The consume → decode → process → commit loop of one batch processor."""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from photostream.contracts.codec import DecodeError, EventCodec
from photostream.kafka_config import client_config
from photostream.settings import Settings
from producers.dlq import PoisonRecord, dead_letter
from producers.publisher import Publisher, PublishResult
from streams.engine.records import BatchProcessor, Record, Reject
from streams.metrics import BATCH_SECONDS, EVENTS_DEAD_LETTERED, EVENTS_PROCESSED

log = logging.getLogger(__name__)

#: Errors that mean "this record is malformed for this processor" rather than "a store is down".
POISON_ERRORS = (KeyError, ValueError, TypeError, AttributeError)


def consumer_config(settings: Settings, group: str) -> dict[str, Any]:
    """Manual commits only after the sinks flushed; a short fetch backoff (librdkafka's default stalls ~1 s)."""
    return client_config(settings, **{
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "fetch.queue.backoff.ms": 10,
        "session.timeout.ms": 6_000,  # the broker's minimum: a crashed worker's partitions move on quickly
        "heartbeat.interval.ms": 1_000,
        "max.poll.interval.ms": 300_000,
        "partition.assignment.strategy": "cooperative-sticky",
    })


class BatchLoop:
    """Runs one :class:`BatchProcessor` until stopped."""

    def __init__(self, settings: Settings, processor: BatchProcessor, publisher: Publisher,
                 codec: EventCodec | None = None) -> None:
        self._settings = settings
        self._processor = processor
        self._publisher = publisher
        self._codec = codec or EventCodec()
        self._group = f"{settings.app_id}.{processor.name}"
        self._consumer = Consumer(consumer_config(settings, self._group), logger=log)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"consume-{processor.name}")
        self._stopping = asyncio.Event()
        #: True once the consumer has joined its group (received an assignment, possibly empty)
        self.joined = False

    def stop(self) -> None:
        self._stopping.set()

    def decode(self, messages: list[Message]) -> tuple[list[Record], list[Future[PublishResult]]]:
        """Decoded, schema-valid records; everything else goes to its DLQ (futures returned to await)."""
        records: list[Record] = []
        dead: list[Future[PublishResult]] = []
        for message in messages:
            topic, partition, offset = str(message.topic()), int(message.partition() or 0), int(message.offset() or 0)
            try:
                value = self._codec.decode(topic, message.value() or b"")
            except DecodeError as exc:
                dead.append(self._reject(PoisonRecord(topic, partition, offset, message.key(), message.value()), exc))
                continue
            records.append(Record(topic, partition, offset, message.key(), value))
        return records, dead

    def _rejecter(self, messages: list[Message], dead: list[Future[PublishResult]]) -> Reject:
        """A ``reject`` callback for one batch: it parks the record's original bytes, not a re-encoding."""
        raw = {(m.topic(), m.partition(), m.offset()): m.value() for m in messages}

        def reject(record: Record, error: Exception) -> None:
            value = raw[(record.topic, record.partition, record.offset)]
            dead.append(self._reject(PoisonRecord(record.topic, record.partition, record.offset, record.key, value),
                                     error))

        return reject

    def _reject(self, poison: PoisonRecord, error: Exception) -> Future[PublishResult]:
        EVENTS_DEAD_LETTERED.labels(self._processor.name, poison.topic, type(error).__name__).inc()
        log.warning("dead-lettered %s/%s@%s: %s", poison.topic, poison.partition, poison.offset, error)
        return dead_letter(self._publisher, poison, error, self._processor.name)

    async def run(self, batch_max: int = 50_000, poll_timeout_s: float = 0.2) -> None:
        """Consume until :meth:`stop`.

        Records accumulate for the processor's ``flush_interval_s`` (the tumbling window for the counters,
        so each touched key costs one read and one write per window, not per record) or until ``batch_max``;
        then the batch is processed, and its offsets are committed only after that.
        """
        loop = asyncio.get_running_loop()
        revoked: set[tuple[str, int]] = set()

        def on_revoke(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            # Runs inside consume(): pending records of these partitions are dropped (never committed), and
            # their new owner re-reads them from the last commit. Nothing is applied twice concurrently.
            revoked.update((str(p.topic), int(p.partition)) for p in partitions)

        def on_assign(consumer: Consumer, partitions: list[TopicPartition]) -> None:
            self.joined = True

        self._consumer.subscribe(list(self._processor.topics), on_assign=on_assign, on_revoke=on_revoke,
                                 on_lost=on_revoke)
        interval = float(getattr(self._processor, "flush_interval_s", 0.0))
        pending: list[Message] = []
        first_at = 0.0
        try:
            while not self._stopping.is_set():
                wait = poll_timeout_s
                if pending:
                    wait = max(0.0, min(poll_timeout_s, interval - (time.monotonic() - first_at)))
                messages = await loop.run_in_executor(self._executor, self._consumer.consume,
                                                      max(1, batch_max - len(pending)), wait)
                if revoked:
                    pending = [m for m in pending if (m.topic(), m.partition()) not in revoked]
                    revoked.clear()
                messages = [m for m in messages if not self._is_noise(m)]
                if messages and not pending:
                    first_at = time.monotonic()
                pending += messages
                if pending and (len(pending) >= batch_max or time.monotonic() - first_at >= interval):
                    await self._flush(pending)
                    pending = []
        finally:
            await loop.run_in_executor(self._executor, self._consumer.close)
            self._executor.shutdown(wait=False)

    async def _flush(self, messages: list[Message]) -> None:
        """Decode, process (poison → DLQ), wait for DLQ acks, then commit."""
        started = time.perf_counter()
        records, dead = self.decode(messages)
        if records:
            await self._process_resiliently(records, self._rejecter(messages, dead))
        for future in dead:  # a DLQ write must be durable before its source offset moves
            await asyncio.wrap_future(future)
        await asyncio.get_running_loop().run_in_executor(self._executor, self._commit, messages)
        BATCH_SECONDS.labels(self._processor.name).observe(time.perf_counter() - started)
        for topic in {r.topic for r in records}:
            EVENTS_PROCESSED.labels(self._processor.name, topic).inc(sum(r.topic == topic for r in records))

    async def _process_resiliently(self, records: list[Record], reject: Reject) -> None:
        """Never crash on one bad record, never skip a good batch because a store is briefly down.

        A record-shaped error (``POISON_ERRORS``) makes the batch be re-applied one record at a time, so only
        the culprit goes to the DLQ (re-applying is safe: processors are idempotent). Anything else (a store
        unreachable, a timeout) is retried with backoff until it succeeds; offsets stay uncommitted meanwhile.
        """
        try:
            await self._with_retries(records, reject)
        except POISON_ERRORS as exc:
            if len(records) == 1:
                reject(records[0], exc)
                return
            log.warning("%s: a record in the batch is bad; isolating it: %r", self._processor.name, exc)
            for record in records:
                await self._process_resiliently([record], reject)

    async def _with_retries(self, records: list[Record], reject: Reject) -> None:
        backoff = 0.5
        while True:
            try:
                await self._processor.process(records, reject)
                return
            except POISON_ERRORS:
                raise
            except Exception:
                log.exception("%s: batch failed; retrying in %.1fs", self._processor.name, backoff)
                await asyncio.sleep(backoff)  # back off from a failing store (not synchronisation)
                backoff = min(backoff * 2, 30.0)

    @staticmethod
    def _is_noise(message: Message) -> bool:
        error = message.error()
        if error is None:
            return False
        if error.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer error: %s", error)
        return True

    def _commit(self, messages: list[Message]) -> None:
        highest: dict[tuple[str, int], int] = {}
        for message in messages:
            key = (str(message.topic()), int(message.partition() or 0))
            highest[key] = max(highest.get(key, -1), int(message.offset() or 0))
        offsets = [TopicPartition(t, p, o + 1) for (t, p), o in highest.items()]
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
        except Exception as exc:  # a rebalance may have moved the partition; the batch is re-applied idempotently
            log.warning("commit failed (records will be re-applied idempotently): %s", exc)
