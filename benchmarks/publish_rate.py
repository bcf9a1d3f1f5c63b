"""Benchmark 1: the producer SDK's publish rate per event type vs a raw confluent-kafka producer.

SDK path (timed): the typed constructor (schema + domain validation), Avro encoding, ``Publisher.submit``,
then ``flush``. Baseline (timed): a ``confluent_kafka.Producer`` with the SDK's own ``producer_config``
producing the very same encoded bytes and keys to the same topic, with a delivery callback that only counts
(any correct producer checks deliveries), then ``flush``. So the ratio is the SDK's price per event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from benchmarks.cpu import CpuWindow
from benchmarks.env import BenchEnv, BenchError
from benchmarks.report import Section
from benchmarks.stats import fmt_rate, fmt_ratio, fmt_us, ratio, verdict
from benchmarks.workload import TagWorkload
from photostream.contracts.codec import EventCodec
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher, producer_config

GOAL = 0.5
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
    """Wall and process-CPU seconds accumulated over rounds."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    events: int = 0

    def add(self, wall_s: float, cpu_s: float, events: int) -> None:
        self.wall_s, self.cpu_s, self.events = self.wall_s + wall_s, self.cpu_s + cpu_s, self.events + events

    @property
    def rate(self) -> float:
        return self.events / self.wall_s

    @property
    def cpu_us(self) -> float:
        return self.cpu_s / self.events * 1e6


def sdk_pass(publisher: Publisher, kind: Kind, arguments: list[dict[str, Any]], timing: Timing | None = None,
             ) -> list[events.Event]:
    """Constructor + submit for every event, then flush; returns the events (the raw pass sends them again)."""
    sent: list[events.Event] = []
    futures: list[Future[Any]] = []
    wall, cpu = time.perf_counter(), time.process_time()
    for kwargs in arguments:
        event = kind.make(**kwargs)
        futures.append(publisher.submit(event))
        sent.append(event)
    left = publisher.flush(60)
    if timing is not None:
        timing.add(time.perf_counter() - wall, time.process_time() - cpu, len(arguments))
    failed = sum(1 for f in futures if not f.done() or f.exception(timeout=0) is not None)
    if left or failed:
        raise BenchError(f"SDK: {kind.topic}: {left} undelivered, {failed} failed")
    return sent


def raw_pass(producer: Producer, topic: str, records: list[tuple[bytes, bytes]], timing: Timing | None = None,
             ) -> None:
    """The same bytes through a bare producer."""
    delivered, failed = [0], [0]

    def on_delivery(error: KafkaError | None, _: Message) -> None:
        if error is None:
            delivered[0] += 1
        else:
            failed[0] += 1

    wall, cpu = time.perf_counter(), time.process_time()
    for value, key in records:
        for _ in range(10_000):  # bounded retry while the local queue is full
            try:
                producer.produce(topic, value, key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.005)
    left = producer.flush(60)
    if timing is not None:
        timing.add(time.perf_counter() - wall, time.process_time() - cpu, len(records))
    if left or failed[0] or delivered[0] != len(records):
        raise BenchError(f"raw: {topic}: {left} undelivered, {failed[0]} failed, {delivered[0]} delivered")


def constructor_us(kind: Kind, workload: TagWorkload) -> float:
    """Thread-CPU µs per event of the typed constructor alone: the SDK's cost before `submit`."""
    arguments = [kind.args(workload) for _ in range(WARMUP)]
    started = time.thread_time_ns()
    for kwargs in arguments:
        kind.make(**kwargs)
    return (time.thread_time_ns() - started) / len(arguments) / 1000


def encoded(codec: EventCodec, sent: list[events.Event]) -> list[tuple[bytes, bytes]]:
    return [(codec.encode(e.topic, e.value), e.key.encode()) for e in sent]


def run(env: BenchEnv, count: int, sdk_cpu_us: dict[str, float]) -> Section:
    """The section; fills ``sdk_cpu_us`` (SDK CPU µs per event per topic: benchmark 2's second baseline)."""
    section = Section(
        "1. SDK publish rate vs raw confluent-kafka",
        f"{count:,} events per type, in {ROUNDS} alternating rounds (SDK chunk, then the raw producer on the "
        "same chunk) so both paths see the same neighbours. SDK = typed constructor (validation) + Avro "
        "encoding + `Publisher.submit`, then `flush`; baseline = `confluent_kafka.Producer(producer_config"
        "(settings))` producing the same pre-encoded bytes and keys to the same topic (delivery callback "
        f"that counts), then `flush`. Warm-up: {WARMUP:,} events per type and path. CPU µs/event = this "
        "process's CPU time (all threads, librdkafka's included) per event.",
        ["event type", "SDK", "raw producer (baseline)", "ratio", f"goal ≥ {GOAL}", "SDK CPU/event",
         "raw CPU/event", "CPU ratio"],
    )
    workload = TagWorkload(env.run_id, seed=1)
    codec = EventCodec()
    raw = Producer(producer_config(env.settings))
    window = CpuWindow({})
    split: list[str] = []
    with Publisher(env.settings) as publisher:
        for kind in KINDS:
            raw_pass(raw, kind.topic, encoded(codec, sdk_pass(publisher, kind, [kind.args(workload)
                                                                                for _ in range(WARMUP)])))
            sdk, base = Timing(), Timing()
            for _ in range(ROUNDS):
                sent = sdk_pass(publisher, kind, [kind.args(workload) for _ in range(count // ROUNDS)], sdk)
                raw_pass(raw, kind.topic, encoded(codec, sent), base)
            r = ratio(sdk.rate, base.rate)
            sdk_cpu_us[kind.topic] = sdk.cpu_us
            build_us = constructor_us(kind, workload)
            split.append(f"`{kind.topic}` {fmt_us(build_us)} + {fmt_us(sdk.cpu_us - build_us)}")
            section.rows.append([f"`{kind.topic}`", fmt_rate(sdk.rate), fmt_rate(base.rate), fmt_ratio(r),
                                 verdict(r >= GOAL), fmt_us(sdk.cpu_us), fmt_us(base.cpu_us),
                                 fmt_ratio(ratio(sdk.cpu_us, base.cpu_us))])
            section.summary.append(f"{kind.topic:15} SDK {fmt_rate(sdk.rate):>10}  raw {fmt_rate(base.rate):>10}"
                                   f"  ratio {fmt_ratio(r)} (goal >= {GOAL})")
    window.close()
    section.notes.append("SDK CPU/event split as typed constructor + everything after it (submit: future, "
                         "delivery-report thread, produce, librdkafka; and Avro encoding wherever the SDK does "
                         "it — benchmark 2 has encoding alone): " + "; ".join(split) + ".")
    section.notes.append(window.describe())
    return section
