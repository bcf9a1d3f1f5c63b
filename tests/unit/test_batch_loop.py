"""The batch loop isolates a bad record and retries a failing store, without a broker."""

from __future__ import annotations

from typing import Any

from photostream.settings import Settings
from streams.engine.loop import BatchLoop
from streams.engine.records import Record, Reject


class PickyProcessor:
    """Fails on a record marked bad (KeyError) and fails transiently ``outages`` times first."""

    name = "picky"
    topics = ("post-hashtag",)

    def __init__(self, outages: int = 0) -> None:
        self.outages = outages
        self.applied: list[int] = []

    async def process(self, batch: list[Record], reject: Reject) -> None:
        if self.outages:
            self.outages -= 1
            raise ConnectionError("store unreachable")
        if any(r.value.get("bad") for r in batch):
            raise KeyError("hashtag")
        self.applied += [r.offset for r in batch]


def records(*bad_offsets: int) -> list[Record]:
    return [Record("post-hashtag", 0, o, None, {"bad": o in bad_offsets}) for o in range(5)]


def loop_for(processor: Any) -> BatchLoop:
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1")
    return BatchLoop(settings, processor, publisher=None)  # type: ignore[arg-type]


async def test_only_the_bad_record_is_rejected_and_the_rest_applied() -> None:
    processor = PickyProcessor()
    rejected: list[tuple[int, str]] = []
    await loop_for(processor)._process_resiliently(records(2), lambda r, e: rejected.append((r.offset, repr(e))))
    assert processor.applied == [0, 1, 3, 4]
    assert rejected == [(2, "KeyError('hashtag')")]


async def test_a_store_outage_is_retried_not_dead_lettered() -> None:
    processor = PickyProcessor(outages=2)
    rejected: list[Any] = []
    await loop_for(processor)._process_resiliently(records(), lambda r, e: rejected.append(r))
    assert processor.applied == [0, 1, 2, 3, 4] and rejected == []
