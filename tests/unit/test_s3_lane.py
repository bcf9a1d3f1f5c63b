"""The S3 bulkhead (:mod:`api.s3_lane`): S3 calls on threads of their own, a full lane refused quickly."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from api.s3_lane import S3BusyError, S3Lane


async def test_a_call_runs_on_an_s3_thread_and_returns_its_answer() -> None:
    lane = S3Lane(threads=2, queue_wait_s=1)
    try:
        assert await lane.run(lambda a, b: (threading.current_thread().name, a + b), 2, 3) == ("s3_0", 5)
    finally:
        lane.close()


async def test_a_full_lane_refuses_after_the_queue_wait_and_serves_again_once_a_thread_frees() -> None:
    lane = S3Lane(threads=1, queue_wait_s=0.2)
    release = threading.Event()
    try:
        stuck = asyncio.ensure_future(lane.run(release.wait, 30))  # S3 not answering: the only thread is held
        await asyncio.sleep(0)
        started = time.monotonic()
        with pytest.raises(S3BusyError):
            await lane.run(lambda: "never")
        assert 0.2 <= time.monotonic() - started < 2  # refused at the queue wait, not when S3 answers
        release.set()
        assert await stuck is True
        assert await lane.run(lambda: "served") == "served"
    finally:
        release.set()
        lane.close()


async def test_a_caller_queued_within_the_wait_is_served() -> None:
    lane = S3Lane(threads=1, queue_wait_s=5)
    release = threading.Event()
    try:
        first = asyncio.ensure_future(lane.run(release.wait, 30))
        second = asyncio.ensure_future(lane.run(lambda: "second"))
        await asyncio.sleep(0.05)
        assert not second.done()  # queued behind the held thread
        release.set()
        assert await first is True and await second == "second"
    finally:
        release.set()
        lane.close()
