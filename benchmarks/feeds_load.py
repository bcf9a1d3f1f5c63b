"""Authenticated HTTP load for the feed benchmark, its own process: ``python -m benchmarks.feeds_load``.

:mod:`benchmarks.loadgen` sends bare ``GET path``; a feed read needs each reader's bearer token, so requests
here are built from ``(path, token)`` pairs (rotating over readers). Two modes, both over loadgen's pool:
``open`` is loadgen's own constant-rate drive (latency from the scheduled instant); ``closed`` keeps
``--connections`` requests in flight back to back for the duration — the saturation rate is what completes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

from benchmarks.loadgen import Http, Pool, Results, drive


class AuthHttp(Http):
    def __init__(self, host: str, port: int, targets: Sequence[tuple[str, str]]) -> None:
        super().__init__(host, port, ["/"])
        self._requests = [(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: */*\r\n"
                           + (f"Authorization: Bearer {token}\r\n" if token else "") + "\r\n").encode()
                          for path, token in targets]


async def closed_loop(host: str, port: int, protocol: AuthHttp, connections: int, duration_s: float,
                      warmup_s: float) -> tuple[Results, float]:
    """``connections`` loops, each sending its next request when the previous answer arrived."""
    pool = Pool(host, port, protocol)
    await pool.prime(connections)
    results = Results()
    start = time.perf_counter()
    measured_from, end = start + warmup_s, start + warmup_s + duration_s
    counter = iter(range(10**12))

    async def loop() -> None:
        reader, writer = await pool.acquire()
        while (now := time.perf_counter()) < end:
            writer.write(protocol.request(next(counter)))
            try:
                status = await protocol.read(reader)
            except Exception as exc:
                results.errors.append(f"{type(exc).__name__}: {exc}"[:120])
                return
            done = time.perf_counter()
            if now >= measured_from:
                results.latency_ms.append((done - now) * 1000)
                results.service_ms.append((done - now) * 1000)
                results.statuses[status] = results.statuses.get(status, 0) + 1
                results.last_done = done
        writer.close()

    await asyncio.gather(*(loop() for _ in range(connections)))
    pool.close()
    return results, measured_from


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--targets", type=Path, required=True, help="JSON list of [path, token]")
    parser.add_argument("--mode", choices=["open", "closed"], default="open")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args(argv)
    url = urlparse(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    protocol = AuthHttp(host, port, [tuple(t) for t in json.loads(args.targets.read_text())])
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if args.mode == "closed":
        results, measured_from = asyncio.run(closed_loop(host, port, protocol, args.connections, args.duration,
                                                         args.warmup))
        window = args.duration
    else:
        results, measured_from = asyncio.run(drive(host, port, protocol, args.rate, args.duration, args.warmup,
                                                   args.connections))
        window = results.last_done - measured_from
    json.dump({
        "latency_ms": results.latency_ms, "lateness_ms": results.lateness_ms, "statuses": results.statuses,
        "errors": dict(Counter(e.split(":")[0] for e in results.errors)), "window_s": window,
        "generator_cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - wall0,
    }, sys.stdout)


if __name__ == "__main__":
    main()
