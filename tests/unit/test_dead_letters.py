"""A batch's poison records: one produce batch, one count per topic and error, one log line (not one per record)."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Any

import pytest
from prometheus_client import REGISTRY

from photostream.contracts.codec import DecodeError
from producers.dlq import PoisonRecord
from streams.engine.dead_letters import dead_letter_batch


class RecordingPublisher:
    """Acknowledges every batch at once and keeps what it was given."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    def submit_raw_many(self, records: list[Any]) -> Future[int]:
        self.batches.append(list(records))
        done: Future[int] = Future()
        done.set_result(len(records))
        return done


def dead_lettered(processor: str, topic: str, error: str) -> float:
    return REGISTRY.get_sample_value("photostream_events_dead_lettered_total",
                                     {"processor": processor, "topic": topic, "error": error}) or 0.0


async def test_a_storm_is_one_produce_batch_one_count_per_kind_and_one_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    publisher = RecordingPublisher()
    dead = [(PoisonRecord("like-changed", i % 4, i, b"k%d" % i, b"\x00junk"), DecodeError("not avro"))
            for i in range(1000)]
    dead.append((PoisonRecord("comment-added", 0, 7, None, b"{}"), KeyError("post_id")))
    before = dead_lettered("storm-test", "like-changed", "DecodeError")
    with caplog.at_level(logging.WARNING, logger="streams.engine.dead_letters"):
        await dead_letter_batch(publisher, dead, "storm-test")  # type: ignore[arg-type]

    [batch] = publisher.batches
    assert len(batch) == 1001
    first = batch[0]
    topic, payload, key, headers = first.topic, first.payload, first.key, first.headers
    assert (topic, payload, key) == ("like-changed.dlq", b"\x00junk", b"k0")  # the bytes as they were
    assert dict(headers)["dlq.error.class"] == b"DecodeError" and dict(headers)["dlq.source.offset"] == b"0"
    second = dict(batch[1].headers or [])
    assert second["dlq.source.offset"] == b"1" and second["dlq.source.partition"] == b"1"
    assert batch[-1].topic == "comment-added.dlq" and dict(batch[-1].headers)["dlq.error.class"] == b"KeyError"
    assert {len(r.headers) for r in batch} == {7}
    assert dead_lettered("storm-test", "like-changed", "DecodeError") - before == 1000
    assert dead_lettered("storm-test", "comment-added", "KeyError") == 1
    [line] = [r.getMessage() for r in caplog.records]
    assert "1001 record(s)" in line and "like-changed DecodeError ×1000" in line
    assert "comment-added KeyError ×1" in line and "like-changed/0@0" in line


async def test_nothing_to_park_sends_and_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    publisher = RecordingPublisher()
    with caplog.at_level(logging.WARNING, logger="streams.engine.dead_letters"):
        await dead_letter_batch(publisher, [], "storm-test")  # type: ignore[arg-type]
    assert publisher.batches == [] and caplog.records == []


async def test_a_record_too_large_for_its_dlq_is_parked_without_its_value_naming_its_size() -> None:
    """Refused by the broker, it failed the batch, and the loop crashed on it after every restart. (Records
    up to the broker's default limit fit whole: the DLQs take 4 MiB.)"""
    from photostream.contracts.catalog import DLQ_MAX_MESSAGE_BYTES
    from producers.dlq import VALUE_LEFT_OUT

    publisher = RecordingPublisher()
    fits = PoisonRecord("like-changed", 0, 1, b"k", b"x" * 1_048_000, [("trace", b"abc")])
    too_large = PoisonRecord("like-changed", 0, 2, b"k", b"x" * DLQ_MAX_MESSAGE_BYTES, [("trace", b"abc")])
    await dead_letter_batch(publisher, [(fits, DecodeError("bad")), (too_large, DecodeError("bad"))],  # type: ignore[arg-type]
                            "popularity")
    whole, stub = publisher.batches[0]
    assert whole.payload == fits.value and ("trace", b"abc") in whole.headers
    assert stub.payload is None and (VALUE_LEFT_OUT, str(DLQ_MAX_MESSAGE_BYTES + 1).encode()) in stub.headers
    assert ("dlq.source.offset", b"2") in stub.headers  # where to read it while the topic keeps it
    # its own headers count: a value that fits, with a header that does not
    heavy = PoisonRecord("like-changed", 0, 3, b"k", b"x" * (DLQ_MAX_MESSAGE_BYTES - 70_000), [("h", b"y" * 200_000)])
    await dead_letter_batch(publisher, [(heavy, DecodeError("bad"))], "popularity")  # type: ignore[arg-type]
    (parked,) = publisher.batches[1]
    assert parked.payload is None and ("h", b"y" * 200_000) not in parked.headers
