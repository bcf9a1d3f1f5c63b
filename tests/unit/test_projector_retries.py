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
