"""Benchmark 2: Avro encode + decode per event, as a share of the pipeline's CPU per event.

Encode and decode are timed in tight loops on this thread's CPU clock (``time.thread_time_ns``, so other
threads and processes do not count), best of three repetitions, over realistic events of each type, with the
cyclic collector settled as the worker settles it after start-up (``photostream.gc_tuning``: the benchmark
process holds every earlier step's objects, and the older generations' collections walking them added ~1 µs an
event that no worker pays). Baselines,
both measured earlier in the same run: the CPU per event of the batch pipeline consuming that type
(benchmark 3: the whole process, all threads — decode, processor, Cassandra and Redis clients, librdkafka),
and the SDK's CPU per published event of that type (benchmark 1).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from benchmarks.pipeline_throughput import PipelineFigures
from benchmarks.publish_rate import KINDS
from benchmarks.report import Section, from_docstring
from benchmarks.stats import fmt_pct, fmt_us, ratio, verdict
from benchmarks.workload import TagWorkload
from photostream.contracts.codec import EventCodec
from photostream.gc_tuning import settle_after_startup

GOAL_SHARE = 0.10
SAMPLES = 1000
REPEATS = 3
PIPELINE_OF = {"post-hashtag": "hashtag counter", "post-created": "extraction adapter"}


def best_us(loop: Callable[[], int]) -> float:
    """Lowest thread-CPU µs per iteration over :data:`REPEATS` runs of ``loop`` (which returns its count)."""
    best = math.inf
    for _ in range(REPEATS):
        started = time.thread_time_ns()
        count = loop()
        best = min(best, (time.thread_time_ns() - started) / count / 1000)
    return best


def run(run_id: str, figures: PipelineFigures, sdk_cpu_us: dict[str, float], iterations: int) -> Section:
    section = Section(
        "2. Avro encode + decode vs the pipeline's CPU per event",
        from_docstring(__doc__),
        ["event type", "encode", "decode", "encode + decode", "pipeline CPU/event (baseline)", "share",
         f"goal ≤ {GOAL_SHARE:.0%}", "SDK publish CPU/event (baseline)", "share"],
    )
    settle_after_startup()
    codec = EventCodec()
    workload = TagWorkload(run_id, seed=2)
    rounds = max(1, iterations // SAMPLES)
    for kind in KINDS:
        values = [kind.make(**kind.args(workload)).value for _ in range(SAMPLES)]
        blobs = [codec.encode(kind.topic, v) for v in values]
        topic = kind.topic

        def encode_all(values: list[dict[str, object]] = values, topic: str = topic) -> int:
            for _ in range(rounds):
                for value in values:
                    codec.encode(topic, value)
            return rounds * len(values)

        def decode_all(blobs: list[bytes] = blobs, topic: str = topic) -> int:
            for _ in range(rounds):
                for blob in blobs:
                    codec.decode(topic, blob)
            return rounds * len(blobs)

        enc, dec = best_us(encode_all), best_us(decode_all)
        pipeline = figures.cpu_us.get(topic, math.nan)
        share = ratio(enc + dec, pipeline)
        name = PIPELINE_OF.get(topic)
        section.rows.append([f"`{topic}`", fmt_us(enc), fmt_us(dec), fmt_us(enc + dec),
                             f"{fmt_us(pipeline)} ({name})" if name else "no batch pipeline",
                             fmt_pct(share), verdict(None if math.isnan(share) else share <= GOAL_SHARE),
                             fmt_us(sdk_cpu_us.get(topic, math.nan)),
                             fmt_pct(ratio(enc + dec, sdk_cpu_us.get(topic, math.nan)))])
        if name:
            section.summary.append(f"{topic}: encode+decode {fmt_us(enc + dec)} = {fmt_pct(share)} of "
                                   f"{name} CPU/event {fmt_us(pipeline)} (goal <= {GOAL_SHARE:.0%})")
    section.notes.append(f"{rounds * SAMPLES:,} iterations per loop, {SAMPLES:,} distinct events per type; "
                         "the counter only decodes in-process (its input was encoded by the producer), the "
                         "adapter decodes a post and encodes one post-hashtag event per tag.")
    return section
