"""uvicorn's HTTP protocol, with each response's head sent in the same write as its first body part.

uvicorn writes a response's status line and headers, then its body, as two ``transport.write`` calls, and
uvloop sends each at once: two system calls and two TCP segments for every answer (strace of an API process
under the notifications benchmark's load: 11,107 writes for 5,571 reads in 5 s). On this kind of machine the
system calls are what a request's tail is made of (README, "Where the GET /notifications tail comes from").
Here the head waits for the first body part and goes out with it, in one write. It never waits longer than the
event loop's turn it was written in (a streamed response whose first part comes later still shows its head at
once), and everything after the head goes straight through, so uvicorn's flow control sees every byte of a
long response as before. WebSockets are not touched: the upgrade hands the connection's own transport over.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HeadWithBody:
    """The transport as one request/response cycle sees it (uvicorn's cycle calls ``write``, ``close`` and
    ``is_closing``, nothing else): its first write is held until the next one, the cycle's close, or the end of
    the event loop's turn, whichever comes first."""

    __slots__ = ("_held", "_loop", "_started", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._started = False

    def write(self, data: bytes) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held + data)
        elif self._started:
            self._transport.write(data)
        else:  # the head (or a "100 Continue"): held for the body's first part
            self._started = True
            self._held = data
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        held = self._held
        if held is not None:
            self._held = None
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()


class HttpProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` whose every request/response cycle writes through a :class:`HeadWithBody`."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:  # (a new cycle: not an upgrade's old one)
            cycle.transport = HeadWithBody(self.transport, self.loop)  # type: ignore[assignment]
