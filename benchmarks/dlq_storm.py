"""Benchmark 14: a poison storm through the real batch loop into the DLQ, vs producing the same bytes raw.

Records that are not Avro at all (random bytes of a like event's size, keyed like likes) are produced once into
the benchmark namespace's ``like-changed`` by a bare confluent-kafka producer with the SDK's producer settings:
produce every record, then flush (the baseline: the raw produce rate of those bytes, timed from the first
produce to the flush's return). Then the popularity processor, built as the worker builds it, is driven by the
real ``BatchLoop`` in this process from their first offset until its group committed past the last (as
benchmark 3 drives its processors): every record fails to decode and goes to ``like-changed.dlq``, acknowledged
by the broker before its offset is committed. Checked, not assumed: the DLQ grew by exactly one record per
poison record, and the loop logged one line per batch.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable

from confluent_kafka import Producer

from benchmarks.cpu import stack_pids
from benchmarks.env import BenchEnv, BenchError
from benchmarks.kafka_tools import Offsets, end_offsets
from benchmarks.pipeline_throughput import Clock, drive
from benchmarks.report import Section, from_docstring
from benchmarks.stats import fmt_rate, fmt_ratio, fmt_us, ratio, verdict
from photostream.settings import Settings
from producers.ids import new_id
from producers.publisher import producer_config
from streams.batch_tasks import build_processors
from streams.engine.records import BatchProcessor
from streams.resources import Resources

NUMBER = 14
TITLE = "14. Poison storm: undecodable records → DLQ through the batch loop vs raw produce"
GOAL = 0.5
TOPIC = "like-changed"
PROCESSOR = "popularity"
#: about a like event's size on the wire
RECORD_BYTES = 90


def produce_poison(settings: Settings, count: int) -> tuple[Offsets, Offsets, float, float]:
    """Produce ``count`` undecodable records; (start offsets, end offsets, seconds, CPU seconds of this
    process) from the first produce to the flush's return."""
    payloads = [os.urandom(RECORD_BYTES) for _ in range(count)]
    keys = [new_id().encode() for _ in range(count)]
    start = end_offsets(settings, [TOPIC])
    producer = Producer(producer_config(settings))
    physical = settings.topic_names.physical(TOPIC)
    cpu0, began = time.process_time(), time.perf_counter()
    for value, key in zip(payloads, keys, strict=True):
        while True:
            try:
                producer.produce(physical, value, key)
                break
            except BufferError:
                producer.poll(0.005)
    if producer.flush(60):
        raise BenchError(f"{TOPIC}: poison records left undelivered")
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu0
    return start, end_offsets(settings, [TOPIC]), seconds, cpu


class LineCounter(logging.Handler):
    """Counts what the dead-letter path logs while the storm is processed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += 1


def _built(settings: Settings) -> Callable[[Resources], BatchProcessor]:
    def make(resources: Resources) -> BatchProcessor:
        [processor] = build_processors(settings, resources, [PROCESSOR])
        return processor
    return make


def run(env: BenchEnv, count: int) -> Section:
    section = Section(TITLE, from_docstring(__doc__),
                      ["measure", "poison storm through the batch loop", "raw produce of the same bytes (baseline)",
                       "ratio", f"goal ≥ {GOAL}"])
    settings = env.with_app_id("storm")
    env.groups.add(f"{settings.app_id}.{PROCESSOR}")
    clock = Clock(tuple(stack_pids(settings.stack_dir).values()))
    dlq_before = sum(end_offsets(settings, [f"{TOPIC}.dlq"]).values())
    start, end, raw_s, raw_cpu_s = produce_poison(settings, count)
    produced = sum(end[tp] - start[tp] for tp in end)
    if produced != count:
        raise BenchError(f"{produced} records landed in {TOPIC}, {count} produced (another producer on it?)")
    lines = LineCounter()
    logger = logging.getLogger("streams.engine.dead_letters")
    logger.addHandler(lines)
    try:
        storm = asyncio.run(drive(settings, clock, _built(settings), start, end))
    finally:
        logger.removeHandler(lines)
    parked = sum(end_offsets(settings, [f"{TOPIC}.dlq"]).values()) - dlq_before
    if parked != count:
        raise BenchError(f"the DLQ grew by {parked:,} records for {count:,} poison records")
    raw_rate, raw_cpu_us = count / raw_s, raw_cpu_s / count * 1e6
    r = ratio(storm.rate, raw_rate)
    section.rows += [
        [f"{count:,} undecodable records: records/s", fmt_rate(storm.rate), fmt_rate(raw_rate), fmt_ratio(r),
         verdict(r >= GOAL)],
        ["CPU per record (this process)", fmt_us(storm.cpu_us), fmt_us(raw_cpu_us),
         fmt_ratio(ratio(storm.cpu_us, raw_cpu_us)), "–"],
        ["records in the DLQ afterwards", f"{parked:,}", f"{count:,} produced", "–", "exactly one each — met"],
        ["log lines from the dead-letter path", f"{lines.lines} (for {storm.flushes} batches)", "one per record: "
         f"{count:,}", "–", verdict(lines.lines <= storm.flushes)],
    ]
    section.notes.append(f"{RECORD_BYTES}-byte random values keyed by random ids; {storm.flushes} batches; group "
                         f"join before the first {storm.join_s:.1f} s (not counted); the storm's time runs from the "
                         "loop's first batch to the commit past the last record, so it includes every DLQ "
                         "acknowledgement.")
    section.summary.append(f"poison storm: {fmt_rate(storm.rate)} to the DLQ vs raw produce {fmt_rate(raw_rate)} "
                           f"ratio {fmt_ratio(r)} (goal >= {GOAL}); {lines.lines} log lines for {count:,} records")
    return section
