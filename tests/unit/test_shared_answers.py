"""SharedAnswers: concurrent readers share one computation; failures are not kept."""

from __future__ import annotations

import asyncio

import pytest

from api.shared_answers import SharedAnswers


async def test_concurrent_callers_share_one_computation() -> None:
    answers: SharedAnswers[int] = SharedAnswers(ttl_s=60)
    started = 0
    release = asyncio.Event()

    async def compute() -> int:
        nonlocal started
        started += 1
        await release.wait()
        return 42

    waiting = [asyncio.create_task(answers.get("tag", compute)) for _ in range(50)]
    await asyncio.sleep(0)  # every caller is now waiting on the one pending computation
    release.set()
    assert await asyncio.gather(*waiting) == [42] * 50
    assert started == 1
    assert await answers.get("tag", compute) == 42 and started == 1  # still fresh: no new computation


async def test_a_failure_is_not_kept() -> None:
    answers: SharedAnswers[int] = SharedAnswers(ttl_s=60)
    calls = 0

    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("store down")
        return 7

    with pytest.raises(ConnectionError):
        await answers.get("tag", flaky)
    assert await answers.get("tag", flaky) == 7
    assert calls == 2


async def test_one_caller_cancelled_does_not_cancel_the_others() -> None:
    answers: SharedAnswers[str] = SharedAnswers(ttl_s=60)
    release = asyncio.Event()

    async def compute() -> str:
        await release.wait()
        return "done"

    first = asyncio.create_task(answers.get("k", compute))
    second = asyncio.create_task(answers.get("k", compute))
    await asyncio.sleep(0)
    first.cancel()
    release.set()
    assert await second == "done"


async def loop_turns(turns: int = 5) -> None:
    """Let the event loop run what is ready (a finished refresh, then its done-callback): no time passes."""
    for _ in range(turns):
        await asyncio.sleep(0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Computation:
    """A compute function answering how many times it ran; call ``fail_on`` raises, and with a ``gate`` every
    call after the first waits for it."""

    def __init__(self, fail_on: int | None = None, gate: asyncio.Event | None = None) -> None:
        self.calls, self.fail_on, self.gate = 0, fail_on, gate

    async def __call__(self) -> int:
        self.calls += 1
        call = self.calls
        if call == self.fail_on:
            raise ConnectionError("store down")
        if self.gate is not None and call > 1:
            await self.gate.wait()
        return call


def stale_able() -> tuple[Clock, SharedAnswers[int]]:
    clock = Clock()
    return clock, SharedAnswers(ttl_s=1, clock=clock)


async def test_a_stale_answer_is_served_at_once_while_one_refresh_computes_the_next() -> None:
    clock, answers = stale_able()
    release = asyncio.Event()
    compute = Computation(gate=release)

    assert await answers.get("tag", compute) == 1
    clock.now = 1.5  # stale: served without waiting, one refresh started
    assert await asyncio.wait_for(answers.get("tag", compute), 1) == 1
    assert await asyncio.wait_for(answers.get("tag", compute), 1) == 1
    assert compute.calls == 2  # the second stale read did not start another refresh
    release.set()
    await loop_turns()
    assert await answers.get("tag", compute) == 2 and compute.calls == 2  # the refresh's answer, fresh until 2.5


async def test_no_answer_older_than_twice_the_ttl_is_served() -> None:
    clock, answers = stale_able()
    compute = Computation()

    assert await answers.get("tag", compute) == 1
    clock.now = 2.0  # nobody read it while it was stale: computed in front of this reader
    assert await answers.get("tag", compute) == 2


async def test_a_failed_refresh_keeps_the_stale_answer_and_the_next_reader_retries() -> None:
    clock, answers = stale_able()
    flaky = Computation(fail_on=2)

    assert await answers.get("tag", flaky) == 1
    clock.now = 1.2
    assert await answers.get("tag", flaky) == 1  # refresh started (it fails)
    await loop_turns()
    assert await answers.get("tag", flaky) == 1  # still the stale answer; this read retried the refresh
    await loop_turns()
    assert flaky.calls == 3
    assert await answers.get("tag", flaky) == 3


async def test_with_jitter_an_answer_goes_stale_at_its_own_random_part_of_the_ttl() -> None:
    """Answers read together are refreshed apart: each is fresh for ``ttl_s * (1 - jitter * rng())``."""
    clock = Clock()
    draws = iter([1.0, 0.0, 0.0])  # the first answer fresh for half the ttl, the next ones for all of it
    answers: SharedAnswers[int] = SharedAnswers(ttl_s=1, clock=clock, jitter=0.5, rng=lambda: next(draws))
    compute = Computation()

    assert await answers.get("tag", compute) == 1
    clock.now = 0.6  # past its half: stale, served, refreshed behind the reader
    assert await answers.get("tag", compute) == 1
    await loop_turns()
    assert compute.calls == 2 and await answers.get("tag", compute) == 2
    clock.now = 1.5  # the refresh (at 0.6) is fresh for a whole ttl: still fresh
    assert await answers.get("tag", compute) == 2 and compute.calls == 2
