"""The collector's pauses as a histogram (photostream.gc_pauses), and the freezing of what held connections keep
(photostream.gc_tuning.FreezeAsItGrows)."""

from __future__ import annotations

import gc

from prometheus_client.core import REGISTRY

from photostream.gc_pauses import BUCKETS, GcPauses, watch_pauses
from photostream.gc_tuning import FreezeAsItGrows
from tests.unit.test_simulate import Clock


def test_each_collection_is_counted_in_its_generations_bucket() -> None:
    clock = Clock()
    pauses = GcPauses(clock)
    for generation, seconds in ((0, 0.0004), (2, 1.4), (2, 0.2), (2, 9.0)):
        pauses.callback("start", {"generation": generation})
        clock.now += seconds
        pauses.callback("stop", {"generation": generation, "collected": 0, "uncollectable": 0})
    [family] = pauses.collect()
    samples = {(s.name, s.labels.get("generation"), s.labels.get("le")): s.value for s in family.samples}
    assert samples[("photostream_gc_pause_seconds_bucket", "0", "0.001")] == 1
    assert samples[("photostream_gc_pause_seconds_count", "1", None)] == 0
    full = [samples[("photostream_gc_pause_seconds_bucket", "2", str(bound))] for bound in BUCKETS]
    assert full[BUCKETS.index(0.1)] == 0 and full[BUCKETS.index(0.25)] == 1 and full[BUCKETS.index(2.5)] == 2
    assert full[-1] == 2 and samples[("photostream_gc_pause_seconds_bucket", "2", "+Inf")] == 3  # (9 s)
    assert abs(samples[("photostream_gc_pause_seconds_sum", "2", None)] - 10.6) < 1e-9


def test_the_process_watch_counts_real_collections_once_however_often_started() -> None:
    assert watch_pauses() is watch_pauses()

    def full_collections() -> float:
        return REGISTRY.get_sample_value("photostream_gc_pause_seconds_count", {"generation": "2"}) or 0.0

    before = full_collections()
    gc.collect()
    assert full_collections() == before + 1


def test_what_connections_keep_is_frozen_every_so_many_opened_and_thawed_now_and_then() -> None:
    done: list[str] = []
    full = [0]
    freezer = FreezeAsItGrows(every=3, thaw_every=3, freeze=lambda: done.append("freeze"),
                              unfreeze=lambda: done.append("thaw"), full_collections=lambda: full[0])
    for _ in range(8):
        freezer.opened()
    assert done == ["freeze", "freeze"]  # after the third and the sixth
    freezer.opened()
    assert done[-1] == "thaw"  # the third time: everything thawed, for a full collection to sweep
    for _ in range(6):
        freezer.opened()
    assert done[-1] == "thaw"  # no freeze until that collection has run...
    full[0] += 1
    freezer.opened()
    assert done[-1] == "freeze"  # ...then freezing again


def test_benchmark_7_reads_the_longest_pause_between_two_scrapes() -> None:
    from benchmarks.unread import longest_pause

    def scrape(*pauses: float) -> dict[str, float]:
        return {**{str(b): float(sum(p <= b for p in pauses)) for b in BUCKETS}, "+Inf": float(len(pauses))}

    before = scrape(0.0004, 1.4)
    assert longest_pause(before, scrape(0.0004, 1.4, 0.003, 0.2, 0.04)) == (0.25, 1)
    assert longest_pause(before, before) == (0.0, 0)
    assert longest_pause(before, scrape(0.0004, 1.4, 7.0)) == (float("inf"), 1)
