"""A constant-rate (open-loop) load generator, run as its own process: ``python -m benchmarks.loadgen``.

Requests are scheduled at fixed instants (``start + i / rate``) whatever the answers do, and latency is
measured from the *scheduled* instant (as wrk2 does), so a stalled server or a late generator shows up in the
tail instead of silently lowering the rate. It speaks just enough HTTP/1.1 (keep-alive, Content-Length) or
RESP (Redis) over a pool of plain asyncio connections to stay far below the server's own cost per request;
the JSON it prints says whether it really held the rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlparse

MAX_CONNECTIONS = 256
TAIL_WAIT_S = 15.0
#: the shortest wait between sends. uvloop's timers count whole milliseconds and round: a sleep under half a
#: millisecond (every interval above 2,000 requests/s) returned at once, so the generator spun a whole core
#: (8.6 CPU-s in a 9 s run at 2,500/s against 1.5 at 1,500/s) on the two cores it shares with the servers it
#: measures. After each wait every instant that has passed is sent (latency still counts from its own instant).
MIN_SLEEP_S = 0.001


class Protocol:
    """Builds request bytes and reads one answer; returns a status (HTTP code, or 200 for a Redis reply)."""

    def request(self, i: int) -> bytes:
        raise NotImplementedError

    async def handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        return None

    async def read(self, reader: asyncio.StreamReader) -> int:
        raise NotImplementedError


class Http(Protocol):
    def __init__(self, host: str, port: int, paths: Sequence[str]) -> None:
        self._requests = [f"GET {p} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\n\r\n".encode() for p in paths]

    def request(self, i: int) -> bytes:
        return self._requests[i % len(self._requests)]

    async def read(self, reader: asyncio.StreamReader) -> int:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line[15:])
            elif line.startswith(b"transfer-encoding:"):
                raise RuntimeError("chunked answers are not supported by this generator")
        if length:
            await reader.readexactly(length)
        return status


def resp(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Redis(Protocol):
    """HGET key field, rotating over keys; one SELECT per new connection."""

    def __init__(self, db: int, keys: Sequence[str], field_name: str) -> None:
        self._db = db
        self._requests = [resp("HGET", k, field_name) for k in keys]

    def request(self, i: int) -> bytes:
        return self._requests[i % len(self._requests)]

    async def handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(resp("SELECT", str(self._db)))
        if not (await reader.readline()).startswith(b"+OK"):
            raise RuntimeError("SELECT failed")

    async def read(self, reader: asyncio.StreamReader) -> int:
        line = await reader.readline()
        if line.startswith(b"$"):
            size = int(line[1:])
            if size >= 0:
                await reader.readexactly(size + 2)
            return 200
        return 500 if line.startswith(b"-") else 200


@dataclass
class Results:
    latency_ms: list[float] = field(default_factory=list)  # scheduled instant -> answer read
    service_ms: list[float] = field(default_factory=list)  # actually sent -> answer read
    lateness_ms: list[float] = field(default_factory=list)  # scheduled -> actually sent
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    first_send: float = 0.0
    last_send: float = 0.0
    last_done: float = 0.0


class Pool:
    def __init__(self, host: str, port: int, protocol: Protocol) -> None:
        self._host, self._port, self._protocol = host, port, protocol
        # FIFO reuse keeps every pooled connection busy, so none sits idle past the server's keep-alive timeout
        self._idle: deque[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = deque()
        self._open = 0
        self._freed = asyncio.Condition()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection(self._host, self._port)
        await self._protocol.handshake(reader, writer)
        return reader, writer

    async def prime(self, count: int) -> None:
        for _ in range(count):
            self._idle.append(await self._connect())
            self._open += 1

    def _take_idle(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        while self._idle:
            reader, writer = self._idle.popleft()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()  # the server closed it while idle: not a failed request
            self._open -= 1
        return None

    async def acquire(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        idle = self._take_idle()
        if idle is not None:
            return idle
        if self._open < MAX_CONNECTIONS:
            self._open += 1
            try:
                return await self._connect()
            except Exception:
                self._open -= 1
                raise
        async with self._freed:
            await self._freed.wait_for(lambda: bool(self._idle))
        return await self.acquire()

    async def release(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None) -> None:
        if conn is None:
            self._open -= 1
        else:
            self._idle.append(conn)
        async with self._freed:
            self._freed.notify()

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()


async def one(pool: Pool, protocol: Protocol, i: int, scheduled: float, results: Results | None) -> None:
    conn = None
    try:
        conn = await pool.acquire()
        sent = time.perf_counter()
        conn[1].write(protocol.request(i))
        status = await protocol.read(conn[0])
        done = time.perf_counter()
        if results is not None:
            results.latency_ms.append((done - scheduled) * 1000)
            results.service_ms.append((done - sent) * 1000)
            results.lateness_ms.append((sent - scheduled) * 1000)
            results.statuses[status] = results.statuses.get(status, 0) + 1
            results.last_send, results.last_done = max(results.last_send, sent), max(results.last_done, done)
            results.first_send = results.first_send or sent
    except Exception as exc:
        if conn is not None:
            conn[1].close()
            conn = None
        if results is not None:
            results.errors.append(f"{type(exc).__name__}: {exc}"[:120])
        await pool.release(None)
        return
    await pool.release(conn)


async def drive(host: str, port: int, protocol: Protocol, rate: float, duration_s: float, warmup_s: float,
                connections: int) -> tuple[Results, float]:
    """Send ``rate`` requests/s for ``warmup_s + duration_s``; only the last ``duration_s`` are recorded."""
    pool = Pool(host, port, protocol)
    await pool.prime(connections)
    results = Results()
    warm_n, total = int(rate * warmup_s), int(rate * (warmup_s + duration_s))
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter() + 0.01
    i = 0
    while i < total:
        now = time.perf_counter()
        due = start + i / rate
        if due > now:
            await asyncio.sleep(max(due - now, MIN_SLEEP_S))
            continue
        while i < total and start + i / rate <= now:  # catch up on every instant that has passed
            task = asyncio.create_task(one(pool, protocol, i, start + i / rate, results if i >= warm_n else None))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
    if tasks:
        _, unfinished = await asyncio.wait(set(tasks), timeout=TAIL_WAIT_S)
        for task in unfinished:
            task.cancel()
        results.errors += [f"no answer {TAIL_WAIT_S:g} s after the last send"] * len(unfinished)
    pool.close()
    return results, start + warm_n / rate


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url", help="http://host:port or redis://host:port/db")
    parser.add_argument("--targets", required=True, help="comma-separated paths (HTTP) or keys (Redis)")
    parser.add_argument("--field", default="post_count", help="hash field for Redis HGET")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--connections", type=int, default=16, help="opened up front; more open on demand")
    args = parser.parse_args(argv)
    url = urlparse(args.url)
    targets = args.targets.split(",")
    protocol: Protocol
    if url.scheme == "redis":
        protocol = Redis(int(url.path.strip("/") or 0), targets, args.field)
    else:
        protocol = Http(url.hostname or "127.0.0.1", url.port or 80, targets)
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    cpu0 = time.process_time()
    results, measured_from = asyncio.run(drive(url.hostname or "127.0.0.1", url.port or 80, protocol, args.rate,
                                               args.duration, args.warmup, args.connections))
    json.dump({
        "rate": args.rate, "duration_s": args.duration, "latency_ms": results.latency_ms,
        "service_ms": results.service_ms, "lateness_ms": results.lateness_ms,
        "statuses": results.statuses, "errors": dict(Counter(e.split(":")[0] for e in results.errors)),
        "error_count": len(results.errors),
        "send_window_s": results.last_send - results.first_send, "measured_from": measured_from,
        "complete_window_s": results.last_done - measured_from, "generator_cpu_s": time.process_time() - cpu0,
    }, sys.stdout)


if __name__ == "__main__":
    main()
