"""The batch loop isolates a bad record, retries a failing store and abandons revoked partitions, without a broker.

The same fence through a real Kafka group: tests/integration/test_engine.py.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_NOT_AVAILABLE, TopicPartition

from photostream.settings import Settings
from producers.partitioning import partition_of
from producers.validation import EventValidationError
from streams.engine.loop import CAUGHT_UP_MS, BatchLoop, caught_up, produced_since
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


class Counts:
    """The publisher as the loop's placement asks it: post-hashtag has 6 partitions (among many topics: a loop
    asks for its inputs by name, not for the whole cluster's metadata)."""

    def __init__(self) -> None:
        self.asked: list[list[str]] = []

    def partition_counts(self, topics: list[str], timeout_s: float = 10.0) -> dict[str, int]:
        self.asked.append(topics)
        return {"post-hashtag": 6}


def loop_for(processor: Any) -> BatchLoop:
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1")
    return BatchLoop(settings, processor, publisher=Counts())  # type: ignore[arg-type]


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


class RevokedDuringOutage:
    """Fails once; while it is down, the group revokes partition 0 (as a rebalance callback would report)."""

    name = "revoked"
    topics = ("like-changed", "comment-added")

    def __init__(self) -> None:
        self.loop: BatchLoop | None = None
        self.attempts: list[list[tuple[int, int]]] = []

    async def process(self, batch: list[Record], reject: Reject) -> None:
        self.attempts.append([(r.partition, r.offset) for r in batch])
        if len(self.attempts) == 1:
            assert self.loop is not None
            self.loop._moved_in_flight.add(("like-changed", 0))
            raise ConnectionError("store unreachable")


async def test_a_retry_applies_nothing_of_a_partition_revoked_meanwhile() -> None:
    processor = RevokedDuringOutage()
    loop = processor.loop = loop_for(processor)
    batch = [Record("like-changed", p, o, None, {}) for p in (0, 1) for o in (7, 8)]
    await loop._process_resiliently(batch, lambda r, e: None)
    assert processor.attempts == [[(0, 7), (0, 8), (1, 7), (1, 8)], [(1, 7), (1, 8)]]


async def test_a_batch_whose_partitions_all_moved_is_abandoned() -> None:
    processor = PickyProcessor(outages=5)
    loop = loop_for(processor)
    loop._moved_in_flight.add(("post-hashtag", 0))
    await loop._process_resiliently(records(), lambda r, e: None)
    assert processor.applied == [] and processor.outages == 5


class Scripted:
    """A consumer whose ``poll``/``consume`` answers are scripted; it records how it was asked."""

    def __init__(self, polled: Any, consumed: list[list[Any]]) -> None:
        self.polled, self.consumed, self.calls = polled, consumed, []

    def poll(self, timeout: float) -> Any:
        self.calls.append(("poll", timeout))
        return self.polled

    def consume(self, n: int, timeout: float) -> list[Any]:
        self.calls.append(("consume", timeout))
        return self.consumed.pop(0) if self.consumed else []



class Message:
    def error(self) -> None:
        return None


def test_a_light_loop_returns_on_its_first_record_and_takes_only_what_already_arrived() -> None:
    loop = loop_for(PickyProcessor())
    first, queued = Message(), [Message(), Message()]
    loop._consumer = Scripted(first, [queued])  # type: ignore[assignment]
    messages, moved, stale = loop._consume(50_000, 0.2, paused=False, first=True)
    assert messages == [first, *queued] and moved == stale == set()
    assert loop._consumer.calls == [("poll", 0.2), ("consume", 0)]  # type: ignore[attr-defined]


def test_a_busy_loop_fills_its_batch_for_the_whole_timeout() -> None:
    loop = loop_for(PickyProcessor())
    batch = [Message() for _ in range(3)]
    loop._consumer = Scripted(None, [batch])  # type: ignore[assignment]
    messages, _, _ = loop._consume(50_000, 0.2, paused=False)
    assert messages == batch
    assert loop._consumer.calls == [("consume", 0.2)]  # type: ignore[attr-defined]


class Remembering(PickyProcessor):
    """Keeps state of its partitions between batches, so it must hear when they move."""

    def __init__(self) -> None:
        super().__init__()
        self.moved: list[set[tuple[str, int]]] = []

    def partitions_moved(self, moved: set[tuple[str, int]]) -> None:
        self.moved.append(moved)


async def test_a_processor_that_remembers_its_partitions_hears_when_they_move() -> None:
    processor = Remembering()
    loop = loop_for(processor)
    loop._consumer = Scripted(None, [[], []])  # type: ignore[assignment]
    await loop._poll(10, 0)
    assert processor.moved == []  # nothing moved: the memory stays
    loop._ownership.on_revoke(loop._consumer, [TopicPartition("post-hashtag", 3)])  # as consume() would report
    await loop._poll(10, 0)
    assert processor.moved == [{("post-hashtag", 3)}]


class Stamped(Message):
    def __init__(self, kind: int, produced_ms: float) -> None:
        self._timestamp = (kind, int(produced_ms))

    def timestamp(self) -> tuple[int, int]:
        return self._timestamp


def test_a_records_interval_runs_from_when_it_was_produced_after_the_last_cut() -> None:
    now_mono, now_ms = 1_000.0, 1_800_000_000_000.0  # the two clocks' readings, given: the test cannot be slow
    cut_at = now_mono - 0.5

    def started(stamp: tuple[int, float]) -> float:
        return produced_since(Stamped(*stamp), cut_at, now=now_mono, wall_s=now_ms / 1000)

    # produced 30 ms ago (while the last batch was processed): its interval has been running for 30 ms
    assert started((TIMESTAMP_CREATE_TIME, now_ms - 30)) == pytest.approx(now_mono - 0.03, abs=1e-6)
    # a backlog's record (produced before the cut) starts its batch's interval now; so does one whose producer's
    # clock is ahead of ours, or one without a timestamp
    for stamp in ((TIMESTAMP_CREATE_TIME, now_ms - 60_000), (TIMESTAMP_CREATE_TIME, now_ms + 60_000),
                  (TIMESTAMP_NOT_AVAILABLE, 0)):
        assert started(stamp) == now_mono
    # without the readings given, the clocks are read: a record produced just now starts (about) now
    assert produced_since(Stamped(TIMESTAMP_CREATE_TIME, time.time() * 1000), time.monotonic() - 0.5) <= \
        time.monotonic()


def test_a_consume_ending_on_a_fresh_record_is_caught_up_and_one_ending_on_an_old_record_is_a_backlog() -> None:
    """How the loop tells a burst it is keeping up with (the next records taken at once) from a backlog (the next
    consume fills a batch): the age of the consume's last record, whatever the consume's size."""
    now_ms = 1_800_000_000_000.0
    assert caught_up(Stamped(TIMESTAMP_CREATE_TIME, now_ms - 5), wall_ms=now_ms)
    assert not caught_up(Stamped(TIMESTAMP_CREATE_TIME, now_ms - CAUGHT_UP_MS - 1), wall_ms=now_ms)
    assert not caught_up(Stamped(TIMESTAMP_CREATE_TIME, now_ms - 60_000), wall_ms=now_ms)
    # no timestamp, or a producer's clock ahead of ours: taken at once (a smaller batch, never a later one)
    assert caught_up(Stamped(TIMESTAMP_NOT_AVAILABLE, 0), wall_ms=now_ms)
    assert caught_up(Stamped(TIMESTAMP_CREATE_TIME, now_ms + 60_000), wall_ms=now_ms)
    assert caught_up(Stamped(TIMESTAMP_CREATE_TIME, time.time() * 1000))  # (the clock read when not given)


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int, value: bytes) -> None:
        self._where, self._value = (topic, partition, offset), value

    def topic(self) -> str:
        return self._where[0]

    def partition(self) -> int:
        return self._where[1]

    def offset(self) -> int:
        return self._where[2]

    def value(self) -> bytes:
        return self._value

    def headers(self) -> list[tuple[str, bytes]]:
        return [("trace", b"t-%d" % self._where[2])]

    def error(self) -> None:
        return None


class Rebalancing:
    """A consumer whose ``consume()`` first runs the rebalance callbacks it is given (as librdkafka runs them
    inside the call), then answers its records; it records the seeks a rewind makes."""

    def __init__(self, ownership: Any, callbacks: list[tuple[str, list[int]]], answer: list[FakeMessage]) -> None:
        self.ownership, self.callbacks, self.answer = ownership, callbacks, answer
        self.seeks: list[tuple[int, int]] = []

    def consume(self, n: int, timeout: float) -> list[FakeMessage]:
        for kind, partitions in self.callbacks:
            tps = [TopicPartition("post-hashtag", p) for p in partitions]
            (self.ownership.on_assign if kind == "assign" else self.ownership.on_revoke)(self, tps)
        return self.answer

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, tp.partition, 7) for tp in partitions]

    def seek(self, tp: TopicPartition) -> None:
        self.seeks.append((tp.partition, tp.offset))



def test_records_of_a_partition_newly_ours_are_kept_and_of_one_that_moved_away_and_back_are_read_again() -> None:
    """A first assignment's records were dropped and fetched again: every start and takeover read its first
    batch twice. Only a partition that was ours (revoked, or revoked and assigned back, in the call) can mix
    two ownerships' records; those are dropped and the partition rewound to its commit."""
    loop = loop_for(Remembering())
    fresh = [FakeMessage("post-hashtag", 0, o, b"") for o in range(3)]
    loop._consumer = Rebalancing(loop._ownership, [("assign", [0, 1])], fresh)  # type: ignore[assignment]
    messages, moved, stale = loop._consume(10, 0, paused=False)
    assert messages == fresh and stale == set() and loop._consumer.seeks == []  # type: ignore[attr-defined]
    assert moved == {("post-hashtag", 0), ("post-hashtag", 1)}  # (still heard of: caches, placement)

    mixed = [FakeMessage("post-hashtag", p, 9, b"") for p in (0, 1, 2)]
    loop._consumer = Rebalancing(loop._ownership, [("revoke", [0, 1]), ("assign", [0, 2])],  # type: ignore[assignment]
                                 mixed)
    messages, moved, stale = loop._consume(10, 0, paused=False)
    assert [m.partition() for m in messages] == [2]  # partition 2 was not ours: its records are fresh
    assert stale == {("post-hashtag", 0), ("post-hashtag", 1)}
    assert loop._consumer.seeks == [(0, 7)]  # type: ignore[attr-defined]  # 1 is no longer ours: no seek
    assert loop._ownership.assigned == {("post-hashtag", 0), ("post-hashtag", 2)}


class RejectsThenFails:
    """Rejects record 1 on every attempt; the first attempt then fails on its store."""

    name = "rejects"
    topics = ("post-hashtag",)

    def __init__(self) -> None:
        self.attempts = 0

    async def process(self, batch: list[Record], reject: Reject) -> None:
        self.attempts += 1
        reject(batch[1], ValueError("not a tag"))
        if self.attempts == 1:
            raise ConnectionError("store unreachable")


async def test_a_record_rejected_by_every_retry_of_its_batch_is_dead_lettered_once() -> None:
    processor = RejectsThenFails()
    loop = loop_for(processor)
    messages = [FakeMessage("post-hashtag", 0, o, b"raw-%d" % o) for o in range(3)]
    dead: list[Any] = []
    await loop._process_resiliently(records(), loop._rejecter(messages, dead))  # type: ignore[arg-type]
    assert processor.attempts == 2
    assert [(poison.offset, poison.value, poison.headers, repr(error)) for poison, error in dead] == [
        (1, b"raw-1", [("trace", b"t-1")], "ValueError('not a tag')")]  # its own headers parked with it


async def test_a_record_sent_to_a_dlq_is_not_counted_as_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    """``photostream_events_processed_total`` counted the records a processor rejected, as if applied."""
    from streams.engine import loop as loop_module

    processor = RejectsThenFails()
    processor.attempts = 1  # its store works: it only rejects record 1
    loop = loop_for(processor)
    messages = [FakeMessage("post-hashtag", 0, o, b"raw-%d" % o) for o in range(3)]
    monkeypatch.setattr(loop, "decode", lambda found: (
        [Record("post-hashtag", 0, m.offset(), None, {"occurred_at": None}) for m in found], []))
    monkeypatch.setattr(loop, "_commit", lambda owned: None)
    monkeypatch.setattr(loop, "_resume", lambda: None)
    parked: list[Any] = []

    async def dead_letter_batch(_publisher: Any, dead: list[Any], _name: str) -> None:
        parked.extend(poison.offset for poison, _ in dead)

    monkeypatch.setattr(loop_module, "dead_letter_batch", dead_letter_batch)
    counted: list[tuple[str, int]] = []

    class Counting:
        batch_seconds = loop._metrics.batch_seconds

        def applied(self, topic: str, ages: Any) -> None:
            counted.append((topic, len(list(ages))))

    monkeypatch.setattr(loop, "_metrics", Counting())
    await loop._flush(messages)  # type: ignore[arg-type]
    assert parked == [1] and counted == [("post-hashtag", 2)]


def test_a_record_keyed_or_placed_otherwise_than_the_sdk_places_it_is_refused() -> None:
    """Two loops must never own one tag: a record not keyed by its key field, or on another partition than
    murmur2 gives its key (a CRC32 producer), is refused with the reason (→ the DLQ); a placed one passes."""
    loop = loop_for(Remembering())
    loop._consumer = Scripted(None, [[]])  # type: ignore[assignment]
    loop._ownership.on_revoke(loop._consumer, [TopicPartition("post-hashtag", 0)])
    loop._consume(10, 0, paused=False)  # a rebalance: partition counts are learnt
    assert loop._publisher.asked == [["post-hashtag"]]  # type: ignore[attr-defined]
    value = {"hashtag": "sunset"}
    home = partition_of(b"sunset", 6)
    loop.placement.check("post-hashtag", home, b"sunset", value)  # where the SDK puts it: fine
    with pytest.raises(EventValidationError, match=f"on partition {(home + 1) % 6}, but its key belongs on "
                                                   f"partition {home} of 6"):
        loop.placement.check("post-hashtag", (home + 1) % 6, b"sunset", value)
    with pytest.raises(EventValidationError, match="key is not its hashtag"):
        loop.placement.check("post-hashtag", home, b"someone-else", value)
    with pytest.raises(EventValidationError, match="key is not its hashtag"):
        loop.placement.check("post-hashtag", home, None, value)


def test_a_topic_given_more_partitions_is_asked_again_before_a_record_is_refused(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its new records were refused for ~5 minutes, until the group's next rebalance told the loop."""
    import streams.engine.placement as placement_module
    from streams.engine.placement import Placement

    counts = {"post-hashtag": 4}
    placement = Placement({"post-hashtag": "post-hashtag"}, lambda topics: dict(counts))
    placement.learn()
    counts["post-hashtag"] = 7  # the topic grows; no rebalance yet
    key = next(k for k in (f"tag{i}".encode() for i in range(1000)) if partition_of(k, 7) != partition_of(k, 4))
    value = {"hashtag": key.decode()}
    with pytest.raises(EventValidationError):  # asked a moment ago: not asked again (a storm asks once)
        placement.check("post-hashtag", partition_of(key, 7), key, value)
    monkeypatch.setattr(placement_module, "RELEARN_AFTER_S", 0.0)
    placement.check("post-hashtag", partition_of(key, 7), key, value)  # asked again: placed right


class Appended(FakeMessage):
    """A record the broker stamped when it appended it (``LogAppendTime`` on the catalog's topics)."""

    def __init__(self, topic: str, offset: int, value: bytes, appended_ms: int) -> None:
        super().__init__(topic, 0, offset, value)
        self._appended_ms = appended_ms

    def key(self) -> bytes:
        return b"k"

    def timestamp(self) -> tuple[int, int]:
        return 2, self._appended_ms  # (TIMESTAMP_LOG_APPEND_TIME)


def test_an_event_stamped_after_the_log_got_it_happened_when_the_log_got_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A like an upstream producer stamped ten minutes ahead outranked the user's unlike of a minute later."""
    from photostream.contracts.codec import EventCodec
    from producers import events

    loop = loop_for(SimpleNamespace(name="likes", topics=("like-changed",)))
    monkeypatch.setattr(loop.placement, "check", lambda *args: None)
    now = int(time.time() * 1000)
    ahead = events.event_type("like-changed").build({"post_id": events.new_id(), "user_id": events.new_id(),
                                                     "action": "like", "occurred_at": now + 600_000})
    on_time = events.like_changed(post_id=events.new_id(), user_id=events.new_id(), action="unlike")
    encode = EventCodec().encode
    found, dead = loop.decode([Appended("like-changed", 0, encode("like-changed", ahead.value), now),  # type: ignore[list-item]
                               Appended("like-changed", 1, encode("like-changed", on_time.value), now + 60_000)])
    assert not dead
    assert [r.value["occurred_at"] for r in found] == [now, on_time.value["occurred_at"]]


def test_records_of_another_encoding_share_one_error_and_keep_their_bytes_and_headers(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poison storm's records (another serializer's bytes, tombstones) are refused without raising, one error
    per batch; a record with the marker but an unknown schema still gets its own reason; a good one passes."""
    from photostream.contracts.codec import MARKER, EventCodec
    from producers import events

    loop = loop_for(SimpleNamespace(name="likes", topics=("like-changed",)))
    monkeypatch.setattr(loop.placement, "check", lambda *args: None)
    good = events.like_changed(post_id=events.new_id(), user_id=events.new_id(), action="like")
    now = int(time.time() * 1000)
    batch = [Appended("like-changed", 0, b"\x00\x00\x00\x00\x01json-ish", now),
             Appended("like-changed", 1, None, now),  # type: ignore[arg-type]
             Appended("like-changed", 2, EventCodec().encode("like-changed", good.value), now),
             Appended("like-changed", 3, MARKER + b"\xff" * 8 + b"body", now),
             Appended("like-changed", 4, b"", now)]
    found, dead = loop.decode(batch)  # type: ignore[arg-type]
    assert [r.offset for r in found] == [2]
    assert [(p.offset, p.value, p.headers) for p, _ in dead] == [
        (0, b"\x00\x00\x00\x00\x01json-ish", [("trace", b"t-0")]), (1, None, [("trace", b"t-1")]),
        (3, MARKER + b"\xff" * 8 + b"body", [("trace", b"t-3")]), (4, b"", [("trace", b"t-4")])]
    reasons = [str(error) for _, error in dead]
    assert reasons[0] == reasons[1] == reasons[3] == "not Avro single-object encoding (missing C3 01 marker)"
    assert dead[0][1] is dead[1][1] is dead[3][1]  # one error object for the batch's unmarked records
    assert "not Avro single-object" not in reasons[2] and "fingerprint" in reasons[2].lower()


def test_a_large_batch_is_decoded_in_chunks_that_let_other_tasks_run_between_them(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker's loops share one event loop: a backlog's 50,000-record batch decoded in one go held it ~0.4 s,
    and the posts projector a client's read-your-writes waits on could not take a step (benchmark 15). Chunked,
    the same records and rejections come back in order, and other tasks run between chunks."""
    from photostream.contracts.codec import EventCodec
    from producers import events
    from producers.ids import new_id
    from streams.engine.loop import DECODE_CHUNK

    loop = loop_for(SimpleNamespace(name="likes", topics=("like-changed",)))
    monkeypatch.setattr(loop.placement, "check", lambda *args: None)
    now = int(time.time() * 1000)
    good = EventCodec().encode("like-changed", events.like_changed(post_id=new_id(), user_id=new_id(),
                                                                   action="like").value)
    total = 2 * DECODE_CHUNK + 7
    batch = [Appended("like-changed", i, b"junk" if i % 500 == 3 else good, now) for i in range(total)]
    chunks: list[int] = []  # how many records were decoded whenever the other task got a turn
    decode = loop.decode

    def counting(messages: list[Any]) -> Any:
        found, dead = decode(messages)
        chunks.append(len(messages))
        return found, dead

    monkeypatch.setattr(loop, "decode", counting)

    async def both() -> tuple[Any, list[int]]:
        turns: list[int] = []

        async def other_task() -> None:
            while len(turns) < 10:
                turns.append(sum(chunks))
                await asyncio.sleep(0)

        other = asyncio.create_task(other_task())
        decoded = await loop.decode_yielding(batch)  # type: ignore[arg-type]
        other.cancel()
        return decoded, turns

    (found, dead), turns = asyncio.run(both())
    assert chunks == [DECODE_CHUNK, DECODE_CHUNK, 7]
    assert [r.offset for r in found] == [i for i in range(total) if i % 500 != 3]
    assert [p.offset for p, _ in dead] == [i for i in range(total) if i % 500 == 3]
    assert DECODE_CHUNK in turns and 2 * DECODE_CHUNK in turns  # the other task ran between the chunks


def test_a_tombstone_on_a_compacted_topic_is_skipped_and_one_elsewhere_is_poison(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    """An account purge leaves a null record keyed by the account on each compacted topic (its profile updates,
    its presence), so compaction drops them: a deletion to skip, not poison to park. On a kept topic a null
    record is still a producer's mistake."""
    loop = loop_for(SimpleNamespace(name="mixed", topics=("profile-updated", "like-changed")))
    monkeypatch.setattr(loop.placement, "check", lambda *args: None)
    now = int(time.time() * 1000)
    found, dead = loop.decode([Appended("profile-updated", 0, None, now),  # type: ignore[arg-type,list-item]
                               Appended("like-changed", 1, None, now)])  # type: ignore[arg-type]
    assert found == [] and [(p.topic, p.offset) for p, _ in dead] == [("like-changed", 1)]


def test_a_consumer_librdkafka_gave_up_on_stops_the_loop_naming_the_likely_cause() -> None:
    """A static member fenced by another process with its instance id gets ``_FATAL`` from ``consume()`` (with
    ``fatal()`` false) on every call: the loop spun on it, logging a warning each time, and processed nothing."""
    from confluent_kafka import KafkaError

    from streams.engine.loop import FatalConsumerError

    loop = loop_for(SimpleNamespace(name="likes", topics=("like-changed",)))
    loop._instance_id = "worker-7"

    class Failed:
        def __init__(self, error: KafkaError) -> None:
            self._error = error

        def error(self) -> KafkaError:
            return self._error

    fenced = KafkaError(KafkaError._FATAL, "Fatal error: Broker: Static consumer fenced by other consumer")
    with pytest.raises(FatalConsumerError, match=r"likes: Fatal error: Broker: Static consumer fenced .*"
                                                 r"PHOTOSTREAM_WORKER_INSTANCE_ID=worker-7"):
        loop._is_noise(Failed(fenced))  # type: ignore[arg-type]
    assert loop._is_noise(Failed(KafkaError(KafkaError._PARTITION_EOF)))  # noise: skipped, the loop goes on
