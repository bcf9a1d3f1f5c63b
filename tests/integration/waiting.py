"""Awaiting observable conditions (a count, a consumer offset) with a deadline — never a blind sleep."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from photostream.lag import consumer_lag
from photostream.settings import Settings
from sinks import keys

T = TypeVar("T")


def wait_for(probe: Callable[[], T], done: Callable[[T], bool], timeout_s: float, what: str) -> T:
    """Re-evaluate ``probe`` until ``done(value)``; fail with the last value after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        value = probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; last value: {value!r}")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def caught_up(settings: Settings, processor: str, topic: str, timeout_s: float = 120) -> None:
    """Wait until ``processor``'s consumer group has committed every record currently in ``topic``."""
    group = f"{settings.app_id}.{processor}"

    def lag() -> int | None:
        rows = [r for r in consumer_lag(settings, group) if r.topic == topic]
        return sum(r.lag for r in rows) if rows else None

    wait_for(lag, lambda v: v == 0, timeout_s, f"{group} to catch up on {topic}")


def applied(redis: Any, records: Iterable[tuple[str, int, int]], appliers: Callable[[str], Iterable[str]],
            what: str = "the processors to apply this test's events", timeout_s: float = 120) -> None:
    """Wait until each processor in ``appliers(topic)`` has marked every ``(topic, partition, offset)`` applied.

    Why: a processor writes its applied-offset mark only after its sinks flushed, so the marks say exactly when
    this test's own records are readable, whatever else the shared topics carry (a group's lag would not).
    """
    wanted = list(records)

    def behind() -> list[str]:
        return [f"{c}:{t}/{p}@{o}" for t, p, o in wanted for c in appliers(t)
                if int(redis.hget(keys.applied_offsets(c, t), str(p)) or -1) < o]

    wait_for(behind, lambda late: not late, timeout_s, what)
