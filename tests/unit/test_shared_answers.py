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
