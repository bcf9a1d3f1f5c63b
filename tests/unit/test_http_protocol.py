"""A response's head and first body part in one write (``api.http_protocol``): the writer with a fake transport,
then uvicorn serving with the API's own options on loopback (keep-alive, a stream whose body comes later, a
WebSocket upgrade)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.sync.client import connect

from api.app import server_options
from api.http_protocol import HeadWithBody
from photostream.settings import get_settings
from tests.integration.waiting import wait_for


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def test_the_head_goes_out_with_the_first_body_part_and_the_rest_straight_through() -> None:
    transport = Transport()
    writer = HeadWithBody(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    writer.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert transport.writes == []
    writer.write(b"part 1")
    assert transport.writes == [b"HTTP/1.1 200 OK\r\n\r\npart 1"]  # one write, one system call
    writer.write(b"part 2")
    assert transport.writes[-1] == b"part 2"
    await asyncio.sleep(0)  # (the end-of-turn flush finds nothing held: nothing is sent twice)
    assert len(transport.writes) == 2


async def test_a_head_whose_body_comes_later_goes_out_at_the_end_of_its_turn() -> None:
    transport = Transport()
    writer = HeadWithBody(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    await asyncio.sleep(0)  # one turn of the event loop, not a wait for time
    assert transport.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]
    writer.write(b"5\r\nhello\r\n")
    assert transport.writes[-1] == b"5\r\nhello\r\n"


async def test_closing_sends_what_is_held_first() -> None:
    transport = Transport()
    writer = HeadWithBody(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
    writer.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    writer.close()
    assert transport.writes == [b"HTTP/1.1 500 Internal Server Error\r\n\r\n"] and writer.is_closing()


# --- uvicorn with the API's options, on loopback --------------------------------------------------------------

release_body = threading.Event()


async def as_json(_: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def later(_: Request) -> StreamingResponse:
    async def parts() -> AsyncIterator[bytes]:
        await asyncio.to_thread(release_body.wait, 30)
        yield b"the body"

    return StreamingResponse(parts(), media_type="text/plain")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())
    await websocket.close()


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    app = Starlette(routes=[Route("/json", as_json), Route("/later", later), WebSocketRoute("/ws", echo)])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free, **server_options(get_settings())))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, bool, 30, "uvicorn to start")
    yield free
    release_body.set()
    server.should_exit = True
    thread.join(30)


def read_response(sock: socket.socket, buffer: bytearray) -> bytes:
    """One ``content-length`` response off ``sock`` (what follows it stays in ``buffer``)."""
    while b"\r\n\r\n" not in buffer:
        buffer += sock.recv(65536)
    head, _, _ = bytes(buffer).partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length"))
    end = len(head) + 4 + length
    while len(buffer) < end:
        buffer += sock.recv(65536)
    answer = bytes(buffer[:end])
    del buffer[:end]
    return answer


def test_keep_alive_and_pipelined_requests_get_whole_answers_in_order(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        buffer = bytearray()
        for _ in range(3):  # one connection, one request after the other
            sock.sendall(b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n")
            answer = read_response(sock, buffer)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b'{"ok":true}')
        sock.sendall(b"GET /json HTTP/1.1\r\nHost: t\r\n\r\n" * 2)  # pipelined
        assert [read_response(sock, buffer).endswith(b'{"ok":true}') for _ in range(2)] == [True, True]
        assert not buffer


def test_a_streams_head_arrives_before_its_body_is_ready(port: int) -> None:
    """Holding the head for the body would have held it until the body came: a client waiting on a stream's
    headers would have waited for its first part."""
    release_body.clear()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /later HTTP/1.1\r\nHost: t\r\n\r\n")
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)  # (times out after 10 s if the head were held)
        assert received.startswith(b"HTTP/1.1 200 OK\r\n") and b"the body" not in received
        release_body.set()
        while b"0\r\n\r\n" not in received:
            received += sock.recv(65536)
        assert b"the body" in received


def test_a_websocket_upgrade_still_works(port: int) -> None:
    with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10) as websocket:
        websocket.send("hello")
        assert websocket.recv(timeout=10) == "hello"
