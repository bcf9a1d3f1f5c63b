"""The consume → decode → process → commit loop of one batch processor, and how it stays the only writer.

Ownership: the consumers use an eager, co-partitioning assignor (``streams.engine.consumer``), so a
partition can only move after this loop has served its revocation inside ``consume()``. The loop therefore
polls only between writes: while a batch is being applied, the group waits for it (heartbeats continue on
librdkafka's thread, so the session stays alive). A batch retried against a failing store keeps serving the
group between attempts (partitions paused, anything returned carried into the next batch) and, before each
attempt, abandons the records of partitions that were revoked meanwhile: the new owner re-reads them from the
last commit, and this loop writes nothing for them any more. Residual window: a process frozen for longer
than the session timeout (6 s) may finish the one write it was doing when it froze.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Consumer, KafkaError, Message, TopicPartition

from photostream.contracts.catalog import is_tombstone
from photostream.contracts.codec import MARKER, DecodeError, EventCodec, not_single_object
from photostream.settings import Settings
from producers.dlq import PoisonRecord, as_header_list, headers_of
from producers.events import event_type
from producers.publisher import Publisher
from producers.validation import EventValidationError
from streams.engine.commits import PacedCommits
from streams.engine.consumer import check_co_partitioned, consumer_config
from streams.engine.dead_letters import Rejected, dead_letter_batch
from streams.engine.ownership import TP, Ownership, tp_of
from streams.engine.placement import Placement
from streams.engine.poison import POISON_ERRORS
from streams.engine.records import BatchProcessor, Record, Reject, cap_at_the_log
from streams.metrics import BATCH_FAILURES, PROCESSOR_READY, TopicMetrics

log = logging.getLogger(__name__)

#: records decoded between two turns of the event loop: a worker's loops share one event loop, and a backlog's
#: batch of 50,000 records decoded in one go held it ~0.4 s, in which no other processor (the posts projector
#: a client's read-your-writes waits on) could take a step (benchmark 15)
DECODE_CHUNK = 1_000
#: a consume that brought fewer records is light traffic: the loop then returns on its next first record
#: instead of waiting for a full batch (measured: doing so under a backlog halved section 13's throughput)
EAGER_BELOW = 1_000
#: a consume whose last record was produced this recently found the loop caught up with its producers, however
#: many records it brought: a burst, not a backlog (see :func:`caught_up`)
CAUGHT_UP_MS = 100


def age_s(message: Message, wall_s: float | None = None) -> float | None:
    """Seconds since ``message`` was produced, by its Kafka timestamp and this host's wall clock (``wall_s``, read
    here unless given); None for a record without a timestamp. Negative for a producer whose clock is ahead."""
    kind, produced_ms = message.timestamp()
    if kind == TIMESTAMP_NOT_AVAILABLE:
        return None
    return (time.time() if wall_s is None else wall_s) - produced_ms / 1000


def produced_since(message: Message, cut_at: float, now: float | None = None, wall_s: float | None = None) -> float:
    """When the interval of ``message`` (the first of a new batch) started, on this process's monotonic clock:
    when it was produced if that was after ``cut_at`` (the last batch's cut, or the loop's start), else now.

    Why: a record produced while the previous batch was being processed has waited that long already; starting
    its interval only when the loop reads it made a live processor's latency the processing time plus a whole
    interval plus the processing time again (the unread badge's applied p50 at 1,000 events/s: 35.5-37.8 ms before,
    22.7-30.3 ms after, in the unread benchmark). A record
    produced before the cut is part of a backlog (or its producer's clock is behind ours): its batch
    accumulates for the whole interval from now, as a batch of a backlog should. (``now`` and ``wall_s``: the
    monotonic and wall clocks' readings, taken here unless given.)"""
    now = time.monotonic() if now is None else now
    age = age_s(message, wall_s)
    if age is None:
        return now
    produced = now - age
    return min(now, produced) if produced >= cut_at else now


def caught_up(message: Message, wall_ms: float | None = None) -> bool:
    """Whether ``message`` (the last record of a consume) was produced within :data:`CAUGHT_UP_MS` of now: the loop
    is then reading what is being written, not working off a backlog, and takes its next records at once.

    Why not the consume's size alone: at 5,000 events/s a hiccup of 0.2 s left 1,000 records waiting, and each
    consume then waited its whole timeout to fill a backlog's batch, which brought about 1,000 records again: the
    unread badge stayed in that mode for the rest of a run (applied p50 406 ms instead of ~20 ms, stop 58).
    A record without a timestamp, or one from a producer whose clock is ahead, counts as caught up (its batch is
    taken at once: smaller, never later)."""
    age = age_s(message, None if wall_ms is None else wall_ms / 1000)
    return age is None or age * 1000 < CAUGHT_UP_MS


class FatalConsumerError(RuntimeError):
    """librdkafka gave up on the consumer (a fatal error): the worker must stop, not spin on it."""


class StoppedMidBatchError(Exception):
    """The loop was stopped while a batch waited to be retried: the batch is left uncommitted (whoever owns its
    partitions next applies it) rather than holding the worker's shutdown until the store is back."""


class BatchLoop:
    """Runs one :class:`BatchProcessor` until stopped."""

    def __init__(self, settings: Settings, processor: BatchProcessor, publisher: Publisher,
                 codec: EventCodec | None = None) -> None:
        check_co_partitioned(processor.topics)
        self._settings = settings
        self._processor = processor
        self._publisher = publisher
        self._codec = codec or EventCodec()
        self._group = f"{settings.app_id}.{processor.name}"
        self._instance_id = settings.worker_instance_id
        #: records carry the catalog's topic names; the broker's (namespaced) names stay at this edge
        self._names = settings.topic_names
        #: broker topic → catalog topic for this loop's inputs: one dict lookup per record, not a string slice
        self._logical = {self._names.physical(t): t for t in processor.topics}
        self._consumer = Consumer(consumer_config(settings, self._group, settings.worker_instance_id), logger=log)
        self._commits = PacedCommits(self._send_commit)
        #: a record keyed or placed otherwise than the SDK does belongs to another worker's entities (the counts
        #: are asked of the publisher's producer: see producers.partitioning.partition_counts)
        self.placement = Placement(self._logical, publisher.partition_counts)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"consume-{processor.name}")
        self._stopping = asyncio.Event()
        self._ownership = Ownership()
        #: consumed, not yet handed to a batch
        self._pending: list[Message] = []
        #: consumed while a batch was being retried: they open the next batch
        self._carried: list[Message] = []
        #: partitions that moved (revoked or re-assigned) while the current batch was in flight
        self._moved_in_flight: set[TP] = set()
        self._paused = False
        self._metrics = TopicMetrics(processor.name, processor.topics)
        self._ready = PROCESSOR_READY.labels(processor.name)
        self._ready.set(0)
        self._failures = BATCH_FAILURES.labels(processor.name)

    @property
    def name(self) -> str:
        return self._processor.name

    @property
    def joined(self) -> bool:
        """True once the consumer has joined its group (received an assignment, possibly empty)."""
        return self._ownership.joined

    def stop(self) -> None:
        self._stopping.set()

    def decode(self, messages: list[Message]) -> tuple[list[Record], list[Rejected]]:
        """Decoded, schema-valid records, and the rest with their errors (for their DLQs).

        An ``occurred_at`` later than the record's timestamp is capped there (:func:`cap_at_the_log`)."""
        records: list[Record] = []
        dead: list[Rejected] = []
        #: a storm's records mostly fail alike: one kept exception per distinct error, not one each (each kept
        #: exception is an object the cyclic collector walks while the batch lives)
        errors: dict[tuple[type, str], DecodeError | EventValidationError] = {}
        logical, decode, check, append = self._logical, self._codec.decode, self.placement.check, records.append
        cap, marker, unmarked = cap_at_the_log, MARKER, None
        # a Record made as its tuple directly: the named tuple's own ``__new__`` is a Python frame (0.45 → 0.30 µs)
        make, record_type = tuple.__new__, Record
        for message in messages:
            physical: str = message.topic()  # type: ignore[assignment]  # (set on every consumed record)
            topic = logical.get(physical) or self._names.logical(physical)
            partition, offset, key, data = message.partition() or 0, message.offset() or 0, message.key(), \
                message.value()
            if data is None and is_tombstone(topic, data):  # a deletion on a compacted topic: nothing to apply
                continue
            if data is None or data[:2] != marker:  # a storm's usual bytes (another serializer's): refused
                found = message.headers()  # without raising (~3 µs a record), with one error for the batch
                unmarked = unmarked or not_single_object()
                parked = PoisonRecord(topic, partition, offset, key, data, as_header_list(found) if found else None)
                dead.append((parked, unmarked))
                continue
            try:
                value = decode(topic, data)
                event_type(topic).check_ids(value)
                check(physical, partition, key, value)
                cap(value, message.timestamp()[1])
            except (DecodeError, EventValidationError) as exc:
                kept = errors.setdefault((type(exc), str(exc)), exc.with_traceback(None))
                found = message.headers()  # (None for none: no list made per record of a storm)
                parked = PoisonRecord(topic, partition, offset, key, data, as_header_list(found) if found else None)
                dead.append((parked, kept))
                continue
            append(make(record_type, (topic, partition, offset, key, value)))
        return records, dead

    async def decode_yielding(self, messages: list[Message]) -> tuple[list[Record], list[Rejected]]:
        """:meth:`decode`, :data:`DECODE_CHUNK` records at a time, letting the event loop run between chunks."""
        if len(messages) <= DECODE_CHUNK:
            return self.decode(messages)
        records: list[Record] = []
        dead: list[Rejected] = []
        for start in range(0, len(messages), DECODE_CHUNK):
            found, rejected = self.decode(messages[start:start + DECODE_CHUNK])
            records += found
            dead += rejected
            await asyncio.sleep(0)  # (a turn for the other loops' ready callbacks, not a wait)
        return records, dead

    def _rejecter(self, messages: list[Message], dead: list[Rejected]) -> Reject:
        """A ``reject`` callback for one batch: it parks the record's original bytes, not a re-encoding, once
        (a batch retried after a store outage rejects its bad records again)."""
        raw: dict[tuple[str, int | None, int | None], Message] = {}
        rejected: set[tuple[str, int, int]] = set()

        def reject(record: Record, error: Exception) -> None:
            where = (record.topic, record.partition, record.offset)
            if where in rejected:
                return
            rejected.add(where)
            if not raw:  # built on the first rejection only: most batches have none
                raw.update(((self._names.logical(str(m.topic())), m.partition(), m.offset()), m) for m in messages)
            original = raw[where]
            dead.append((PoisonRecord(record.topic, record.partition, record.offset, record.key, original.value(),
                                      headers_of(original)), error))

        return reject

    async def run(self, batch_max: int = 50_000, poll_timeout_s: float = 0.2) -> None:
        """Consume until :meth:`stop`.

        Records accumulate for the processor's ``flush_interval_s`` (short for live views; a second for the
        hashtag counter, so each touched tag costs one read and one write per flush, not per record) or until
        ``batch_max``; then the batch is processed, and its offsets are committed only after that. The interval
        runs from when the first pending record was produced, not from when this loop got to it: records that
        came in while the last batch was processed have been waiting already (:func:`produced_since`).
        """
        self._consumer.subscribe(self._names.physicals(self._processor.topics), on_assign=self._ownership.on_assign,
                                 on_revoke=self._ownership.on_revoke, on_lost=self._ownership.on_revoke)
        interval = float(getattr(self._processor, "flush_interval_s", 0.0))
        first_at = cut_at = time.monotonic()
        light = False  # the last consume brought a trickle: the next record is taken at once (see _consume)
        try:
            while not self._stopping.is_set():
                wait, first = poll_timeout_s, light and not self._pending
                if self._pending:
                    wait = max(0.0, min(poll_timeout_s, interval - (time.monotonic() - first_at)))
                commit_due = self._commits.due_in()  # (the consume thread sends it once the poll returns)
                if commit_due is not None:
                    wait = min(wait, commit_due)
                messages = await self._poll(max(1, batch_max - len(self._pending)), wait, first=first)
                light = len(messages) < EAGER_BELOW or caught_up(messages[-1])
                self._ready.set(1 if self.joined else 0)
                if messages and not self._pending:
                    first_at = produced_since(messages[0], cut_at)
                self._pending += messages
                if self._pending and (len(self._pending) >= batch_max or time.monotonic() - first_at >= interval):
                    batch, self._pending = self._pending, []
                    first_at = cut_at = time.monotonic()  # (what is carried over has waited since the cut)
                    try:
                        await self._flush(batch)
                    except StoppedMidBatchError:
                        log.warning("%s: stopped while retrying a batch; it stays uncommitted, to be applied by "
                                    "whoever owns its partitions next", self._processor.name)
                        break
                    self._pending, self._carried = self._carried, []
        finally:
            self._ready.set(0)
            await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
            self._executor.shutdown(wait=False)

    def _send_commit(self, offsets: list[TopicPartition]) -> None:
        self._consumer.commit(offsets=offsets, asynchronous=True)

    def _close(self) -> None:
        """Commit what waits, then close (``close()`` waits for the commits in flight and leaves the group)."""
        self._commits.flush()
        self._consumer.close()

    async def _poll(self, max_messages: int, timeout_s: float, paused: bool = False,
                    first: bool = False) -> list[Message]:
        """One ``consume()`` on the consumer thread (rebalance callbacks run inside it); the records of
        partitions that moved meanwhile are dropped wherever they wait, and those still ours are rewound.
        ``first``: traffic is light and nothing is pending: return as soon as one record arrives (see
        :meth:`_consume`)."""
        messages, moved, stale = await asyncio.get_running_loop().run_in_executor(
            self._executor, self._consume, max_messages, timeout_s, paused, first)
        if moved:
            self._moved_in_flight |= moved
            forget = getattr(self._processor, "partitions_moved", None)
            if forget is not None:
                forget(moved)
        if stale:
            log.info("%s: %d partition(s) moved in a rebalance; their uncommitted records are dropped",
                     self._processor.name, len(stale))
            self._pending = [m for m in self._pending if tp_of(m) not in stale]
            self._carried = [m for m in self._carried if tp_of(m) not in stale]
        return messages

    def _consume(self, max_messages: int, timeout_s: float, paused: bool,
                 first: bool = False) -> tuple[list[Message], set[TP], set[TP]]:
        """``consume(n, t)`` returns only once it has ``n`` records or ``t`` passed, so under light traffic a
        loop waiting for its first record would hold a lone event for the whole poll timeout (~0.2 s of
        latency). With ``first`` (light traffic, nothing pending), one ``poll`` waits for the first record and a
        non-blocking ``consume`` takes whatever arrived with it; the flush interval then runs from that record."""
        if paused:  # re-paused every time: partitions assigned by a rebalance start out fetching
            self._consumer.pause(self._consumer.assignment())
            self._paused = True
        if first:
            head = self._consumer.poll(timeout_s)
            raw = [] if head is None else [head]
            if head is not None and max_messages > 1:
                raw += self._consumer.consume(max_messages - 1, 0)
        else:
            raw = self._consumer.consume(max_messages, timeout_s)
        messages = [m for m in raw if m.error() is None or not self._is_noise(m)]  # (no call per good record)
        moved, stale = self._ownership.take_moved()
        if moved:
            self._commits.forget(moved)
        self._commits.send_due()
        if stale:  # (a partition newly ours keeps its records: see streams.engine.ownership)
            messages = [m for m in messages if tp_of(m) not in stale]
            self._ownership.rewind(self._consumer, stale)
        if moved:
            self.placement.learn()  # (a topic given more partitions moves keys, and the group rebalances)
        return messages, moved, stale

    def _resume(self) -> None:
        if self._paused:
            self._consumer.resume(self._consumer.assignment())
            self._paused = False

    async def _flush(self, messages: list[Message]) -> None:
        """Decode, process (poison → DLQ), wait for DLQ acks, then commit what is still ours."""
        started = time.perf_counter()
        self._moved_in_flight = set()
        try:
            records, dead = await self.decode_yielding(messages)
            if records:
                await self._process_resiliently(records, self._rejecter(messages, dead))
            await dead_letter_batch(self._publisher, dead, self._processor.name)
            moved = self._moved_in_flight
            owned = [m for m in messages if tp_of(m) not in moved] if moved else messages
            await asyncio.get_running_loop().run_in_executor(self._executor, self._commit, owned)
        finally:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._resume)
        self._metrics.batch_seconds.observe(time.perf_counter() - started)
        if dead and records:  # what went to a DLQ was not applied: counted there (dead_lettered_total), not here
            parked = {(p.topic, p.partition, p.offset) for p, _ in dead}
            records = [r for r in records if (r.topic, r.partition, r.offset) not in parked]
        times: dict[str, list[Any]] = defaultdict(list)  # counted and aged once durable (the age a reader sees)
        for r in records:
            times[r.topic].append(r.value.get("occurred_at"))
        for topic, occurred in times.items():
            self._metrics.applied(topic, occurred)

    async def _process_resiliently(self, records: list[Record], reject: Reject) -> None:
        """Never crash on one bad record, never skip a good batch because a store is briefly down.

        A record-shaped error (``POISON_ERRORS``) makes the batch be re-applied one record at a time, so only
        the culprit goes to the DLQ (re-applying is safe: processors are idempotent). Anything else (a store
        unreachable, a timeout) is retried with backoff until it succeeds; offsets stay uncommitted meanwhile.
        """
        try:
            await self._with_retries(records, reject)
        except POISON_ERRORS as exc:
            records = self._still_owned(records)
            if len(records) == 1:
                reject(records[0], exc)
                return
            log.warning("%s: a record in the batch is bad; isolating it: %r", self._processor.name, exc)
            for record in records:
                await self._process_resiliently([record], reject)

    def _still_owned(self, records: list[Record]) -> list[Record]:
        moved = self._moved_in_flight
        physical = self._names.physical
        return [r for r in records if (physical(r.topic), r.partition) not in moved] if moved else records

    async def _with_retries(self, records: list[Record], reject: Reject) -> None:
        """Retry a failing store with backoff, serving the group meanwhile; each attempt applies only the
        records whose partitions are still ours (the fence: after a revocation this loop writes nothing).
        :class:`StoppedMidBatchError` if the loop is stopped meanwhile."""
        longest = self._settings.batch_retry_backoff_max_s
        backoff = min(0.5, longest)
        while records := self._still_owned(records):
            try:
                await self._processor.process(records, reject)
                return
            except POISON_ERRORS:
                raise
            except Exception:
                self._failures.inc()
                log.exception("%s: batch failed; retrying in %.1fs", self._processor.name, backoff)
                await self._serve_group(backoff)
                backoff = min(backoff * 2, longest)

    async def _serve_group(self, seconds: float, step_s: float = 0.2) -> None:
        """Wait ``seconds`` inside ``consume()`` on paused partitions, so rebalances are served (and
        revocations seen) while a batch waits to be retried; records returned open the next batch.
        :class:`StoppedMidBatchError` as soon as the loop is stopped."""
        deadline = time.monotonic() + seconds
        while True:
            if self._stopping.is_set():
                raise StoppedMidBatchError(self._processor.name)
            remaining = deadline - time.monotonic()
            self._carried += await self._poll(10_000, min(max(remaining, 0.0), step_s), paused=True)
            if remaining <= 0:
                return

    def _is_noise(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return False
        if error.fatal() or error.code() == KafkaError._FATAL:  # the consumer is finished (e.g. fenced: another
            # process took its instance id); librdkafka hands it to consume() as _FATAL, with fatal() false
            raise FatalConsumerError(f"{self._processor.name}: {error.str()}" + (
                f" (does another running worker use PHOTOSTREAM_WORKER_INSTANCE_ID={self._instance_id}?)"
                if self._instance_id else ""))
        if error.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer error: %s", error)
        return True

    def _commit(self, messages: list[Message]) -> None:
        """Commit past ``messages``, asynchronously and paced (:mod:`streams.engine.commits`): the loop goes on to
        its next batch at once.

        Why asynchronous: a synchronous commit waited 10–60 ms for the coordinator on this machine, in every
        batch's cycle and so in every event's latency. Nothing relies on the commit having landed: the applied
        marks readers wait for are written by the processors, a commit lost to a crash or a rebalance only makes
        the next owner re-apply records idempotently, commits from one consumer reach the coordinator in order,
        and one from a member whose generation has ended is refused by the broker (the ownership fence stays
        the eager assignor's). ``close()`` waits for the commits still in flight; failures are logged by
        :func:`streams.engine.consumer.log_failed_commit`."""
        self._commits.add(messages)
