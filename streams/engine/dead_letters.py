"""Parking a batch's poison records in their DLQs (the batch loop's).

One produce batch with one future, one metric increment per topic and error, and one log line per batch, not one
of each per record: a poison storm of 100,000 records leaves a log an operator can read (two lines, not
100,000) and wakes the event loop once per batch. Its rate is benchmark 14's. The caller awaits the
acknowledgement before its source offsets move: a DLQ write must be durable first.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from producers.dlq import PoisonRecord, dead_letter_many
from producers.publisher import Publisher
from streams.metrics import EVENTS_DEAD_LETTERED

log = logging.getLogger(__name__)

#: a record that goes to its DLQ, and why
Rejected = tuple[PoisonRecord, BaseException]


async def dead_letter_batch(publisher: Publisher, dead: list[Rejected], processor: str) -> None:
    """Send ``dead`` to the DLQs and return once the broker acknowledged every record."""
    if not dead:
        return
    acknowledged = dead_letter_many(publisher, dead, processor)
    tally = Counter((poison.topic, type(error).__name__) for poison, error in dead)
    for (topic, error_class), count in tally.items():
        EVENTS_DEAD_LETTERED.labels(processor, topic, error_class).inc(count)
    (first, error), kinds = dead[0], ", ".join(f"{t} {e} ×{n}" for (t, e), n in tally.most_common())
    log.warning("%s: dead-lettered %d record(s) of one batch (%s); the first: %s/%s@%s: %s",
                processor, len(dead), kinds, first.topic, first.partition, first.offset, error)
    await asyncio.wrap_future(acknowledged)
