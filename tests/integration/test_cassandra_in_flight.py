"""A worker's Cassandra session keeps at most ``CASSANDRA_WORKER_IN_FLIGHT`` requests in flight, whatever its
stores ask for at once (``sinks.cassandra.cap_in_flight``), and every request still completes. Real Cassandra:
the requests are counted where they leave for the driver."""

from __future__ import annotations

import asyncio
from typing import Any

from photostream.settings import Settings
from producers.ids import new_id
from sinks.cassandra import execute, execute_grouped
from streams.resources import Resources


class InFlight:
    """Wraps a session's ``execute_async``: counts requests between leaving and their answer."""

    def __init__(self, session: Any) -> None:
        self.now = self.peak = self.sent = 0
        self._send = session.execute_async
        session.execute_async = self.execute_async

    def execute_async(self, *args: Any, **kwargs: Any) -> Any:
        response = self._send(*args, **kwargs)
        self.now += 1
        self.sent += 1
        self.peak = max(self.peak, self.now)
        response.add_callbacks(self._done, self._done)
        return response

    def _done(self, *_: Any) -> None:
        self.now -= 1


async def test_a_workers_session_keeps_at_most_its_cap_in_flight_and_answers_everything(settings: Settings) -> None:
    capped = settings.model_copy(update={"cassandra_worker_in_flight": 3})
    resources = Resources.open(capped)
    try:
        session = resources.session
        counted = InFlight(session)
        read = session.prepare("SELECT user_id FROM users WHERE user_id = ?")
        write = session.prepare("INSERT INTO usernames (username, user_id) VALUES (?, ?)")
        names = [f"inflight-{new_id()}" for _ in range(120)]
        # a store's fan-out (one request per row) and a grouped write (one request per partition batch)
        answers = await asyncio.gather(*(execute(session, read, (new_id(),)) for _ in range(60)),
                                       execute_grouped(session, [(write, (n, new_id())) for n in names],
                                                       group_size=2))
        assert len(answers) == 61 and all(not list(a.current_rows) for a in answers[:60])
        assert counted.sent == 60 + 60 and counted.peak == 3, (counted.sent, counted.peak)
        stored = await execute(session, session.prepare("SELECT username FROM usernames WHERE username IN ?"),
                               (names,))
        assert {row.username for row in stored.current_rows} == set(names)
    finally:
        await resources.close()


async def test_uncapped_the_same_requests_go_out_at_once(settings: Settings) -> None:
    """The contrast that shows the cap is what bounded them: 0 turns it off."""
    resources = Resources.open(settings.model_copy(update={"cassandra_worker_in_flight": 0}))
    try:
        counted = InFlight(resources.session)
        read = resources.session.prepare("SELECT user_id FROM users WHERE user_id = ?")
        await asyncio.gather(*(execute(resources.session, read, (new_id(),)) for _ in range(60)))
        assert counted.peak > 3
    finally:
        await resources.close()
