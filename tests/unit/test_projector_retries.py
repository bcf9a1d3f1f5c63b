"""The faust projector never gives up on an event: store failures are retried, record errors are not."""

from __future__ import annotations

import pytest

from streams import projector


class Failures:
    def __init__(self) -> None:
        self.count = 0

    def inc(self) -> None:
        self.count += 1


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(projector, "RETRY_FIRST_S", 0.001)


async def test_a_store_outage_is_retried_until_the_write_lands() -> None:
    attempts: list[int] = []

    async def write() -> None:
        attempts.append(1)
        if len(attempts) < 4:
            raise ConnectionError("Cassandra unreachable")

    failures = Failures()
    await projector.until_done("test", write, failures)
    assert len(attempts) == 4 and failures.count == 3


async def test_a_record_error_goes_back_to_the_caller_at_once() -> None:
    attempts: list[int] = []

    async def write() -> None:
        attempts.append(1)
        raise ValueError("not a valid id")  # record-shaped: the caller dead-letters it

    with pytest.raises(ValueError):
        await projector.until_done("test", write, Failures())
    assert len(attempts) == 1


class Message:
    def __init__(self, topic: str, key: bytes, offset: int) -> None:
        self.topic, self.key, self.offset, self.partition, self.headers = topic, key, offset, 0, None


class Event:
    def __init__(self, topic: str, key: bytes, offset: int) -> None:
        self.message, self.value = Message(topic, key, offset), b"raw"


class Sink:
    """A store that refuses a record with ``"bad"`` in it (as a driver refuses a value), whole buffers included,
    and fails ``outages`` times before its first write lands."""

    def __init__(self, outages: int = 0) -> None:
        self.outages = outages
        self.applied: list[str] = []
        self.buffers = 0

    def _check(self, event: dict[str, object]) -> None:
        if self.outages:
            self.outages -= 1
            raise ConnectionError("Cassandra unreachable")
        if event.get("bad"):
            raise ValueError("the store refuses this value")

    async def apply(self, topic: str, event: dict[str, object]) -> None:
        self._check(event)
        self.applied.append(str(event["id"]))

    async def apply_many(self, events: list[tuple[str, dict[str, object]]]) -> None:
        self.buffers += 1
        for _, event in events:
            self._check(event)
        self.applied += [str(event["id"]) for _, event in events]


def ready(*specs: tuple[bytes, int, bool]) -> list[projector.Ready]:
    return [projector.Ready(Event("posts-topic", key, offset), "post-created", {"id": f"{key.decode()}{offset}",
                                                                                "bad": bad})
            for key, offset, bad in specs]


async def test_a_buffer_goes_to_the_store_in_one_call() -> None:
    sink, dead = Sink(outages=2), []
    items = ready((b"a", 1, False), (b"b", 2, False), (b"a", 3, False))
    assert await projector.apply_buffer("posts", sink, items, dead, Failures()) == items
    assert sink.buffers == 3 and sink.applied == ["a1", "b2", "a3"] and dead == []  # two outages, then once whole


async def test_a_record_the_store_refuses_is_dead_lettered_alone_and_its_key_s_others_still_apply_in_order() -> None:
    sink, dead = Sink(), []
    items = ready((b"a", 1, False), (b"b", 2, True), (b"a", 3, False), (b"b", 4, False))
    applied = await projector.apply_buffer("posts", sink, items, dead, Failures())
    assert [item.record["id"] for item in applied] == ["a1", "a3", "b4"]
    assert sink.applied == ["a1", "a3", "b4"]  # the whole buffer was refused before any of it landed
    [(parked, error)] = dead
    assert (parked.offset, parked.topic, isinstance(error, ValueError)) == (2, "post-created", True)
