"""Benchmark 12: `photostream replay` vs `photostream tail` over the same records.

The analysts' export must be at least half as fast as simply tailing the topic (issue 13). Records are produced
once into the benchmark namespace's ``content-reported`` topic (used by no processor, so nothing else reads or
writes it during the run); then, over exactly the topic's whole range, each reader runs in this process: replay
to a JSON-lines file (``photostream.replay.replay``: decode into the current reader schema, rows in batches,
written), and tail (``photostream.cli_io.tail_topic`` from the beginning, every record decoded and serialised to
a JSON line as the CLI prints it, written to ``/dev/null``). Records per second of each, and the ratio.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from benchmarks.env import BenchEnv
from benchmarks.report import Section, from_docstring
from benchmarks.stats import fmt_rate, fmt_ratio, ratio, verdict
from photostream.cli_io import tail_topic
from photostream.replay import replay
from photostream.replay_range import parse_point
from producers import events
from producers.ids import new_id
from producers.publisher import Publisher
from streams.consumer_groups import end_offsets

NUMBER = 12
TITLE = "12. photostream replay vs photostream tail, same records"
TOPIC = "content-reported"
GOAL = 0.5


def _fill(env: BenchEnv, count: int) -> int:
    """Produce ``count`` reports; the topic's total record count afterwards."""
    with Publisher(env.settings) as publisher:
        batch = [events.content_reported(reporter_id=new_id(), target_kind="post", target_id=new_id(),
                                         reason="spam", details=f"bench {i}") for i in range(count)]
        publisher.submit_many(batch).result(timeout=120)
    ends = end_offsets(env.settings, [TOPIC])
    return sum(ends.values())


def run(env: BenchEnv, count: int) -> Section:
    section = Section(TITLE, from_docstring(__doc__), ["reader", "records", "seconds", "records/s", "ratio",
                                                      f"goal ≥ {GOAL}"])
    total = _fill(env, count)
    with tempfile.TemporaryDirectory(dir=env.tmp) as folder:
        started = time.perf_counter()
        report = replay(env.settings, TOPIC, parse_point("earliest"), parse_point("latest"), "jsonl",
                        Path(folder) / "export.jsonl")
        replay_s = time.perf_counter() - started
    exported = report.total_written
    started = time.perf_counter()
    tailed = 0
    with open("/dev/null", "w") as sink:
        for line in tail_topic(env.settings, TOPIC, True, max_records=total):
            sink.write(json.dumps(line, ensure_ascii=False) + "\n")
            tailed += 1
    tail_s = time.perf_counter() - started
    replay_rate, tail_rate = exported / replay_s, tailed / tail_s
    r = ratio(replay_rate, tail_rate)
    section.rows.append(["`photostream tail` (baseline)", f"{tailed:,}", f"{tail_s:.2f}", fmt_rate(tail_rate), "1×",
                         ""])
    section.rows.append(["`photostream replay --format jsonl`", f"{exported:,}", f"{replay_s:.2f}",
                         fmt_rate(replay_rate), fmt_ratio(r), verdict(r >= GOAL)])
    section.notes.append(f"{count:,} records produced for this run; the topic held {total:,} in all (earlier runs' "
                         "records of the benchmark namespace included), and both readers read all of them.")
    section.summary.append(f"replay {fmt_rate(replay_rate)} vs tail {fmt_rate(tail_rate)}: {fmt_ratio(r)} "
                           f"(goal ≥ {GOAL})")
    return section
