"""The open-loop generator holds its rate without spinning: every wait is at least the event loop's timer
resolution, and the instants that passed meanwhile are all sent (none dropped, none counted twice)."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks import loadgen

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


async def _answer_every_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while await reader.readuntil(b"\r\n\r\n"):
            writer.write(ANSWER)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def test_a_rate_above_the_timer_resolution_waits_at_least_a_millisecond_and_sends_every_instant(
        monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    real_sleep = asyncio.sleep

    async def recorded_sleep(delay: float) -> None:
        waits.append(delay)
        await real_sleep(delay)

    monkeypatch.setattr(loadgen.asyncio, "sleep", recorded_sleep)
    rate, duration_s = 5_000.0, 0.2  # an interval of 0.2 ms: five times under the timer's resolution

    async def run() -> loadgen.Results:
        server = await asyncio.start_server(_answer_every_request, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            results, _ = await loadgen.drive("127.0.0.1", port, loadgen.Http("127.0.0.1", port, ["/"]), rate,
                                             duration_s, warmup_s=0.0, connections=8)
        return results

    results = asyncio.run(run())

    assert results.statuses == {200: int(rate * duration_s)}, results.errors
    assert waits and min(waits) >= loadgen.MIN_SLEEP_S
    # a spinning generator woke once per instant (1,000 here); one waking per millisecond wakes ~200 times
    assert len(waits) <= duration_s / loadgen.MIN_SLEEP_S + 10
