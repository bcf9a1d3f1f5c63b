"""``offsets.advance_all``: each partition's mark moves to the batch's highest offset, and its derived events are
filed under the batch's lowest one, whatever order the batch's records come in."""

from __future__ import annotations

import asyncio
import random

from hypothesis import given
from hypothesis import strategies as st

from sinks import keys, offsets
from tests.unit.offsets_fakes import Redis


@given(st.lists(st.tuples(st.sampled_from(["like-changed", "comment-added"]), st.integers(0, 2),
                          st.integers(0, 10**9)), min_size=1, max_size=40), st.randoms())
def test_each_partition_gets_its_highest_offset_and_its_derived_span_starts_at_its_lowest(
        coordinates: list[tuple[str, int, int]], shuffle: random.Random) -> None:
    shuffle.shuffle(coordinates)
    redis = Redis()
    asyncio.run(offsets.advance_all(redis, "popularity", coordinates, {("follow-changed", 0): 7}))
    by_partition: dict[tuple[str, int], list[int]] = {}
    for topic, partition, offset in coordinates:
        by_partition.setdefault((topic, partition), []).append(offset)
    marks = {(key, partition): offset for kind, key, partition, offset in
             (s for s in redis.sent if s[0] == "mark")}
    assert marks == {(keys.applied_offsets("popularity", t), p): max(found) for (t, p), found in by_partition.items()}
    derived = {key: entry for kind, key, entry in (s for s in redis.sent if s[0] == "derived")}
    assert derived == {keys.derived_offsets("popularity", t, p): (f"{min(found)}|follow-changed:0:7", max(found))
                       for (t, p), found in by_partition.items()}


def test_an_empty_batch_sends_nothing() -> None:
    redis = Redis()
    asyncio.run(offsets.advance_all(redis, "popularity", []))
    assert redis.sent == []
