"""``sinks.cassandra.cap_in_flight``: the cap holds per session, each event loop gets a gate of its own (a
semaphore belongs to the loop it first waited on), and 0 lifts it."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from sinks.cassandra import SLOT_WAITS, cap_in_flight, execute


class SlowResponse:
    """Answers from a timer thread, as the driver answers from its own."""

    def __init__(self, session: SlowSession) -> None:
        self._session = session

    def add_callbacks(self, ok: Any, failed: Any) -> None:
        def answer() -> None:
            self._session.now -= 1
            ok([])
        threading.Timer(0.005, answer).start()

    def result(self) -> list[Any]:
        return []

    def clear_callbacks(self) -> None:
        return None


class SlowSession:
    def __init__(self) -> None:
        self.now = self.peak = 0

    def execute_async(self, statement: Any, params: Any = None, paging_state: Any = None) -> SlowResponse:
        self.now += 1
        self.peak = max(self.peak, self.now)
        return SlowResponse(self)


async def _burst(session: SlowSession, n: int = 40) -> None:
    await asyncio.gather(*(execute(session, "SELECT 1") for _ in range(n)))


def test_a_capped_session_never_has_more_in_flight_under_any_loop() -> None:
    session = SlowSession()
    cap_in_flight(session, 4)
    waits = SLOT_WAITS._value.get()
    asyncio.run(_burst(session))
    asyncio.run(_burst(session))  # a second loop: its own gate, not the first loop's (which would raise)
    assert session.peak == 4 and session.now == 0
    assert SLOT_WAITS._value.get() - waits == 2 * (40 - 4)  # the waits are counted, for the metric


def test_zero_lifts_the_cap() -> None:
    session = SlowSession()
    cap_in_flight(session, 4)
    cap_in_flight(session, 0)
    asyncio.run(_burst(session))
    assert session.peak > 4
