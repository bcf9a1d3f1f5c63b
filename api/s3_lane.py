"""The API's calls to S3, on threads of their own, never queued for long: a bulkhead.

Why: boto3 blocks, and the API ran every S3 call through ``asyncio.to_thread``, whose default pool has
min(32, cores + 4) threads (6 on two cores) shared with password hashing and the readiness checks. An S3 that
answers slowly (a call may wait out its 3 s connect or 10 s read timeout, and be retried) filled those threads: image
requests queued behind them for as long as S3 stayed slow, and logins and ``/readyz`` queued behind the images.
Now S3 calls run on ``S3_THREADS`` threads of their own, and a call that cannot start within
``S3_QUEUE_WAIT_S`` raises :class:`S3BusyError`, which the API answers at once with 503 and ``Retry-After``
(:data:`api.errors.STORE_OUTAGES`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from prometheus_client import Counter

from photostream.settings import Settings

T = TypeVar("T")
BUSY = Counter("photostream_s3_busy_total", "S3 calls refused because every S3 thread stayed busy for the "
               "queue wait (answered 503)")


class S3BusyError(Exception):
    """Every S3 thread stayed busy for the whole queue wait: S3 is slow; the request may succeed later."""


class S3Lane:
    def __init__(self, threads: int, queue_wait_s: float) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="s3")
        #: one per thread: a call holds one while it runs, so waiting callers queue here, where the wait is bounded
        self._slots = asyncio.Semaphore(threads)
        self._queue_wait_s = queue_wait_s

    @classmethod
    def of(cls, settings: Settings) -> S3Lane:
        return cls(settings.s3_threads, settings.s3_queue_wait_s)

    async def run(self, call: Callable[..., T], *args: object) -> T:
        """``call(*args)`` on an S3 thread; :class:`S3BusyError` if none frees up within the queue wait."""
        if self._slots.locked():  # (a free slot is taken without a timer: the usual case)
            try:
                await asyncio.wait_for(self._slots.acquire(), self._queue_wait_s)
            except TimeoutError:
                BUSY.inc()
                raise S3BusyError(f"every S3 thread stayed busy for {self._queue_wait_s:g} s") from None
        else:
            await self._slots.acquire()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(call, *args))
        finally:
            self._slots.release()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
