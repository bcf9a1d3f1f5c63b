"""The safety processor: block-changed, mute-changed → blocks and mutes in Cassandra, and a block's unfollows.

1. every toggle is written as a timestamped upsert (sinks/safety.py): the newest toggle of a pair wins;
2. a block also ends the follows between the two users, both ways: it publishes two ``follow-changed``
   unfollows with ids derived from the block's event id and the block's time, so a replay re-emits duplicates
   of the same facts; the feeds processor then removes the posts from the feeds as for any unfollow. They are
   acknowledged before this batch's offsets are committed (a failed delivery fails the batch: it is retried);
3. the applied-offset marks move, so a read with ``?after=`` sees the block or mute.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

from photostream.domain.safety import Kind, SafetyChange, safety_change, unfollows_of_block
from producers.events import build
from producers.publisher import Publisher, PublishResult
from sinks import offsets
from sinks.safety import SafetyWriter
from streams.engine.records import Record, Reject

_KINDS: dict[str, Kind] = {"block-changed": "block", "mute-changed": "mute"}


class SafetyProcessor:
    name: str = "safety"
    topics: tuple[str, ...] = ("block-changed", "mute-changed")
    #: a block must take effect at once (the blocker reloads the profile with ``?after=``): short batches
    flush_interval_s: float = 0.05

    def __init__(self, writer: SafetyWriter, publisher: Publisher, redis: Any, publish_timeout_s: float = 10.0) -> None:
        self._writer = writer
        self._publisher = publisher
        self._redis = redis
        self._publish_timeout_s = publish_timeout_s

    async def process(self, batch: list[Record], reject: Reject) -> None:
        changes: list[tuple[Record, SafetyChange]] = []
        for record in batch:
            try:
                changes.append((record, safety_change(_KINDS[record.topic], record.value)))
            except ValueError as exc:
                reject(record, exc)
        await self._writer.apply(change for _, change in changes)
        await self._end_follows(changes, reject)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))

    async def _end_follows(self, changes: list[tuple[Record, SafetyChange]], reject: Reject) -> None:
        futures: list[Future[PublishResult]] = []
        for record, change in changes:
            for fields in unfollows_of_block(change, str(record.value["event_id"])):
                try:
                    futures.append(self._publisher.submit(build("follow-changed", fields)))
                except ValueError as exc:  # cannot happen for a valid block; park the source rather than loop
                    reject(record, exc)
        if not futures:
            return
        # one flush waits for every acknowledgement; a failed delivery raises below, so the batch is retried
        await asyncio.to_thread(self._publisher.flush)
        for future in futures:
            future.result(timeout=self._publish_timeout_s)
