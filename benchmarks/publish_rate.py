"""Benchmark 1: the producer SDK's publish rate per event type vs what a user would otherwise write.

Four paths, all on one ``confluent_kafka.Producer`` configuration (the SDK's ``producer_config``), the same
topic and the same events, in alternating rounds: each round the SDK makes a chunk of events, then every
baseline sends those very events (same ids, keys and field values), so all paths see the same neighbours.
**SDK**: the typed constructor (schema + domain validation, id and timestamp generation, Avro single-object
encoding) for every event, then ``Publisher.submit_many`` for the chunk (one future for the batch),
``flush``, and a check that every event was acknowledged; a second SDK column uses ``Publisher.submit`` (a
future per event) instead, on fresh events of the same kind. **AvroSerializer** (the goal's baseline):
confluent-kafka's own ``AvroSerializer`` over its in-memory ``mock://`` registry (``MockSchemaRegistryClient``:
no server, so no network cost), serialising each event's record (the SDK's dict: no id generation counted),
then ``produce``. **fastavro loop**: a hand-written ``fastavro.schemaless_writer`` into a ``BytesIO`` after
the same single-object header, then ``produce`` (its bytes equal the SDK's; checked). **raw producer**: the
SDK's encoded bytes produced as they are, the floor. Every baseline passes a delivery callback that only
counts (any correct producer checks deliveries), serves reports only when the local queue is full, and ends
with ``flush``. The baselines validate only what the Avro writer refuses; the SDK also refuses unknown fields
and breaks of domain rules.
"""

from __future__ import annotations

import io
import json
import statistics
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from fastavro import schemaless_writer

from benchmarks.cpu import CpuWindow
from benchmarks.env import BenchEnv, BenchError
from benchmarks.report import Section, from_docstring
from benchmarks.stats import fmt_rate, fmt_ratio, fmt_us, ratio, verdict
from benchmarks.workload import TagWorkload
from photostream.contracts.codec import MARKER
from photostream.contracts.schema_store import SchemaVersion, default_store
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher, producer_config

GOAL = 1.5  # SDK ÷ AvroSerializer path
WARMUP = 1000
ROUNDS = 5


@dataclass(frozen=True)
class Kind:
    """An event type: its constructor and how to draw one event's constructor arguments."""

    topic: str
    make: Callable[..., events.Event]
    args: Callable[[TagWorkload], dict[str, Any]]


def _post_hashtag_args(workload: TagWorkload) -> dict[str, Any]:
    return workload.post_hashtag_records(1)[0]


KINDS = (
    Kind("post-created", events.post_created,
         lambda w: {"author_id": w.author(), "caption": w.caption(w.post_tags()), "image_ids": [new_id()]}),
    Kind("like-changed", events.like_changed,
         lambda w: {"post_id": new_id(), "user_id": w.author(), "action": "like"}),
    Kind("follow-changed", events.follow_changed,
         lambda w: {"follower_id": w.author(), "followee_id": new_id(), "action": "follow"}),
    Kind("comment-added", events.comment_added,
         lambda w: {"post_id": new_id(), "user_id": w.author(), "text": "love the light in this one 😍 #nofilter"}),
    Kind("ON_MSG_UNSENT", events.message_unsent,
         lambda w: {"src": w.author(), "dest": new_id(), "msg_id": new_id()}),
    Kind("post-hashtag", events.post_hashtag, _post_hashtag_args),
)


@dataclass
class Timing:
    """Wall and process-CPU seconds accumulated over rounds, and each round's rate."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    events: int = 0
    rounds: list[float] = field(default_factory=list)

    def add(self, wall_s: float, cpu_s: float, events: int) -> None:
        self.wall_s, self.cpu_s, self.events = self.wall_s + wall_s, self.cpu_s + cpu_s, self.events + events
        self.rounds.append(events / wall_s)

    def median_ratio(self, baseline: Timing) -> float:
        """Median over rounds of this round's rate ÷ the baseline's in the same round: a burst of load from
        another process skews one round, not the figure."""
        return statistics.median(ratio(a, b) for a, b in zip(self.rounds, baseline.rounds, strict=True))

    @property
    def rate(self) -> float:
        return self.events / self.wall_s

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.events * 1e6


class Clock:
    """Brackets one timed pass: wall and process CPU."""

    def __init__(self, timing: Timing | None, events: int) -> None:
        self.timing, self.events = timing, events

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *_: object) -> None:
        if self.timing is not None:
            self.timing.add(time.perf_counter() - self.wall, time.process_time() - self.cpu, self.events)


def sdk_pass(publisher: Publisher, kind: Kind, arguments: list[dict[str, Any]], timing: Timing | None = None,
             ) -> list[events.Event]:
    """Constructor for every event, one ``submit_many``, flush; returns the events (the baselines resend them)."""
    with Clock(timing, len(arguments)):
        sent = [kind.make(**kwargs) for kwargs in arguments]
        acks = publisher.submit_many(sent)
        left = publisher.flush(60)
        delivered = acks.result(timeout=60)
    if left or delivered != len(sent):
        raise BenchError(f"SDK: {kind.topic}: {left} undelivered, {delivered} of {len(sent)} acknowledged")
    return sent


def sdk_single_pass(publisher: Publisher, kind: Kind, arguments: list[dict[str, Any]],
                    timing: Timing | None = None) -> None:
    """Constructor + ``submit`` (a future per event) for every event, then flush."""
    futures: list[Future[Any]] = []
    with Clock(timing, len(arguments)):
        for kwargs in arguments:
            futures.append(publisher.submit(kind.make(**kwargs)))
        left = publisher.flush(60)
    failed = sum(1 for f in futures if not f.done() or f.exception(timeout=0) is not None)
    if left or failed:
        raise BenchError(f"SDK submit: {kind.topic}: {left} undelivered, {failed} failed")


class Counted:
    """A producer plus a delivery callback that only counts: what every baseline does around ``produce``."""

    def __init__(self, producer: Producer, name: str) -> None:
        self.producer, self.name = producer, name
        self.delivered, self.failed = 0, 0

    def on_delivery(self, error: KafkaError | None, _: Message) -> None:
        if error is None:
            self.delivered += 1
        else:
            self.failed += 1

    def produce(self, topic: str, value: bytes | None, key: str) -> None:
        for _ in range(10_000):  # bounded retry while the local queue is full
            try:
                self.producer.produce(topic, value, key, on_delivery=self.on_delivery)
                return
            except BufferError:
                self.producer.poll(0.005)
        raise BenchError(f"{self.name}: local queue stayed full")

    def finish(self, topic: str, expected: int) -> None:
        left = self.producer.flush(60)
        if left or self.failed or self.delivered != expected:
            raise BenchError(f"{self.name}: {topic}: {left} undelivered, {self.failed} failed, "
                             f"{self.delivered} of {expected} delivered")


def avro_serializer_pass(producer: Producer, serializer: AvroSerializer, topic: str, sent: list[events.Event],
                         timing: Timing | None = None) -> None:
    """confluent-kafka's AvroSerializer (mock registry) on each event's record, then produce."""
    out = Counted(producer, "AvroSerializer")
    context = SerializationContext(topic, MessageField.VALUE)
    with Clock(timing, len(sent)):
        for event in sent:
            out.produce(topic, serializer(event.value, context), event.key)
        out.finish(topic, len(sent))


def fastavro_pass(producer: Producer, schema: SchemaVersion, topic: str, sent: list[events.Event],
                  timing: Timing | None = None) -> None:
    """A hand-written ``schemaless_writer`` loop with the single-object header, then produce."""
    out = Counted(producer, "fastavro loop")
    header = MARKER + schema.fingerprint
    first: bytes | None = None
    with Clock(timing, len(sent)):
        for event in sent:
            buffer = io.BytesIO()
            buffer.write(header)
            schemaless_writer(buffer, schema.parsed, event.value)
            value = buffer.getvalue()
            first = first or value
            out.produce(topic, value, event.key)
        out.finish(topic, len(sent))
    if sent and first != sent[0].payload:
        raise BenchError(f"fastavro loop: {topic}: its bytes differ from the SDK's")


def raw_pass(producer: Producer, topic: str, sent: list[events.Event], timing: Timing | None = None) -> None:
    """The SDK's bytes through a bare producer."""
    out = Counted(producer, "raw producer")
    with Clock(timing, len(sent)):
        for event in sent:
            out.produce(topic, event.payload, event.key)
        out.finish(topic, len(sent))


def constructor_us(kind: Kind, workload: TagWorkload) -> float:
    """Thread-CPU µs per event of the typed constructor alone: the SDK's cost before `submit_many`."""
    arguments = [kind.args(workload) for _ in range(WARMUP)]
    started = time.thread_time_ns()
    for kwargs in arguments:
        kind.make(**kwargs)
    return (time.thread_time_ns() - started) / len(arguments) / 1000


def mock_registry() -> SchemaRegistryClient:
    """confluent-kafka's in-memory registry (``mock://``): serialisers register into it without a server."""
    registry = SchemaRegistryClient.new_client({"url": "mock://photostream-bench"})
    if type(registry).__name__ != "MockSchemaRegistryClient":
        raise BenchError(f"mock:// gave a {type(registry).__name__}, not the in-memory registry")
    return registry


@dataclass
class Paths:
    """One event type's timings, one per path."""

    sdk: Timing
    sdk_single: Timing
    serializer: Timing
    fastavro: Timing
    raw: Timing


def measure(kind: Kind, count: int, publisher: Publisher, producer: Producer, registry: SchemaRegistryClient,
            workload: TagWorkload, kafka_topic: str) -> Paths:
    """``kafka_topic``: the namespace's name of ``kind.topic``, where the baselines produce (as the SDK does)."""
    schema = default_store().current(kind.topic)
    serializer = AvroSerializer(registry, json.dumps(schema.raw))
    paths = Paths(Timing(), Timing(), Timing(), Timing(), Timing())
    for timed in (False, True):  # a warm-up round of every path, then the timed rounds
        for _ in range(ROUNDS if timed else 1):
            chunk = count // ROUNDS if timed else WARMUP
            sent = sdk_pass(publisher, kind, [kind.args(workload) for _ in range(chunk)],
                            paths.sdk if timed else None)
            avro_serializer_pass(producer, serializer, kafka_topic, sent, paths.serializer if timed else None)
            fastavro_pass(producer, schema, kafka_topic, sent, paths.fastavro if timed else None)
            raw_pass(producer, kafka_topic, sent, paths.raw if timed else None)
            sdk_single_pass(publisher, kind, [kind.args(workload) for _ in range(chunk)],
                            paths.sdk_single if timed else None)
    return paths


def run(env: BenchEnv, count: int, sdk_cpu_us: dict[str, float]) -> Section:
    """The section; fills ``sdk_cpu_us`` (SDK CPU µs per event per topic: benchmark 2's second baseline)."""
    section = Section(
        "1. SDK publish rate vs confluent-kafka's AvroSerializer",
        f"{count:,} events per type and path, in {ROUNDS} alternating rounds after a {WARMUP:,}-event warm-up "
        "round. " + from_docstring(__doc__) + " CPU µs/event = this process's CPU time (all threads, "
        "librdkafka's included) per event.",
        ["event type", "SDK (`submit_many`)", "AvroSerializer (baseline)", "ratio", "median round ratio",
         f"goal ≥ {GOAL}", "SDK (`submit` each)", "ratio", "fastavro loop", "SDK ÷ fastavro", "raw producer",
         "SDK ÷ raw", "CPU/event: SDK", "AvroSerializer", "fastavro loop", "AvroSerializer CPU ÷ SDK CPU"],
    )
    workload = TagWorkload(env.run_id, seed=1)
    producer = Producer(producer_config(env.settings))
    registry = mock_registry()
    window = CpuWindow({})
    split: list[str] = []
    with Publisher(env.settings) as publisher:
        for kind in KINDS:
            paths = measure(kind, count, publisher, producer, registry, workload,
                            env.settings.topic_names.physical(kind.topic))
            sdk, base = paths.sdk, paths.serializer
            r, median = ratio(sdk.rate, base.rate), sdk.median_ratio(base)
            cpu = ratio(base.cpu_us, sdk.cpu_us)
            sdk_cpu_us[kind.topic] = sdk.cpu_us
            build_us = constructor_us(kind, workload)
            split.append(f"`{kind.topic}` {fmt_us(build_us)} + {fmt_us(sdk.cpu_us - build_us)}")
            section.rows.append([
                f"`{kind.topic}`", fmt_rate(sdk.rate), fmt_rate(base.rate), fmt_ratio(r), fmt_ratio(median),
                verdict(r >= GOAL), fmt_rate(paths.sdk_single.rate),
                fmt_ratio(ratio(paths.sdk_single.rate, base.rate)), fmt_rate(paths.fastavro.rate),
                fmt_ratio(ratio(sdk.rate, paths.fastavro.rate)), fmt_rate(paths.raw.rate),
                fmt_ratio(ratio(sdk.rate, paths.raw.rate)), fmt_us(sdk.cpu_us), fmt_us(base.cpu_us),
                fmt_us(paths.fastavro.cpu_us), fmt_ratio(cpu),
            ])
            section.summary.append(
                f"{kind.topic:15} SDK {fmt_rate(sdk.rate):>10}  AvroSerializer {fmt_rate(base.rate):>10}  ratio "
                f"{fmt_ratio(r)} (median round {fmt_ratio(median)}; goal >= {GOAL})  CPU ratio {fmt_ratio(cpu)}  "
                f"fastavro loop {fmt_rate(paths.fastavro.rate):>10}  raw {fmt_rate(paths.raw.rate):>10}")
    window.close()
    section.notes.append("Ratios: SDK rate ÷ the column's rate (the `submit` column: its own rate ÷ the "
                         "AvroSerializer's); the median round ratio pairs each round's SDK chunk with the baselines "
                         "on the same chunk. The goal is judged on the overall ratio. CPU/event (this process, all "
                         "threads) is the figure least moved by other processes on the 2 shared cores.")
    section.notes.append("SDK CPU/event split as typed constructor (validation, ids, encoding) + everything after "
                         "it (`submit_many`, delivery reports, produce, librdkafka): " + "; ".join(split) + ".")
    section.notes.append(window.describe())
    return section
