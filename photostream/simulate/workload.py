"""The steady part: actions started at ``rate`` per second, at most ``concurrency`` in flight.

Pacing is by schedule (the n-th action is due at ``start + n / rate``), so a slow answer delays the next
actions only when every slot is busy; then the achieved rate drops below the target and the summary shows it.
An unreachable API, S3 or Kafka (:class:`Health`) and a worker that fell behind (``paused``) hold the schedule:
nothing is started until they recover, and the schedule restarts from then rather than bursting to catch up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from photostream.simulate.actions import World
from photostream.simulate.api_client import ServiceDownError
from photostream.simulate.mix import ActionMix, Kind
from producers.publisher import PublishError

logger = logging.getLogger(__name__)


@dataclass
class Health:
    """The last outage seen, and when to try again (doubling back-off, up to ``max_backoff_s``)."""

    problem: str = ""
    retry_at: float = 0.0
    backoff_s: float = 0.0
    max_backoff_s: float = 10.0

    def failed(self, problem: str) -> None:
        self.backoff_s = min(self.max_backoff_s, self.backoff_s * 2 or 1.0)
        self.problem = problem
        self.retry_at = time.monotonic() + self.backoff_s

    def succeeded(self) -> None:
        self.problem, self.backoff_s = "", 0.0

    def wait_s(self) -> float:
        return max(0.0, self.retry_at - time.monotonic())


class Workload:
    def __init__(self, world: World, mix: ActionMix, rate: float, concurrency: int) -> None:
        self.world, self.mix, self.rate = world, mix, rate
        self.slots = asyncio.Semaphore(concurrency)
        self.health = Health()
        self.paused = asyncio.Event()  # set while the worker is behind
        self.started = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event) -> None:
        """Start actions until ``stop`` is set."""
        interval = 1.0 / self.rate
        due = time.monotonic()
        while not stop.is_set():
            held = await self._hold(stop)
            if held:
                due = time.monotonic()
            if stop.is_set():
                break
            await self.slots.acquire()
            kind = self.mix.pick(self.world.rng, have_posts=bool(self.world.recent_posts))
            if kind is None:
                self.slots.release()
            else:
                self._start(kind)
            due = max(due + interval, time.monotonic() - 1.0)  # never more than a second of catching up
            delay = due - time.monotonic()
            if delay > 0:
                await sleep_or_stop(stop, delay)

    async def _hold(self, stop: asyncio.Event) -> bool:
        """Wait while the worker is behind or a service is down; True if anything held the schedule."""
        held = False
        while not stop.is_set() and (self.paused.is_set() or self.health.wait_s() > 0):
            held = True
            await sleep_or_stop(stop, min(0.5, self.health.wait_s() or 0.5))
        return held

    def _start(self, kind: Kind) -> None:
        self.started += 1
        task = asyncio.create_task(self._guarded(kind))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded(self, kind: Kind) -> None:
        try:
            await self.world.act(kind)
            self.health.succeeded()
        except (ServiceDownError, PublishError) as exc:
            self.world.stats.outcome(kind, "failed (service down)")
            self.health.failed(str(exc))
        except Exception:  # a bug in one action must not end the run: logged, counted, the run goes on
            logger.exception("simulated %s failed", kind)
            self.world.stats.outcome(kind, "failed (error)")
        finally:
            self.slots.release()

    async def read_messages(self, stop: asyncio.Event) -> None:
        """Publish due read marks twice a second."""
        while not stop.is_set():
            try:
                await self.world.read_due_messages()
            except PublishError as exc:
                self.health.failed(str(exc))
            await sleep_or_stop(stop, 0.5)

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Let actions in flight and the read-backs of accepted posts finish (bounded), then cancel what is left
        (a cancelled read-back counts its post as unconfirmed)."""
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=timeout_s)
        if self.world.probes:
            await asyncio.wait(self.world.probes, timeout=timeout_s)
        pending = self.tasks | self.world.probes
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
