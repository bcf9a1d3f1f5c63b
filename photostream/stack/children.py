"""A test or benchmark run's own `photostream` subprocesses (worker, API): a port, waiting for them, stopping them.

The integration tests (tests/integration/conftest.py) and the benchmarks (benchmarks/env.py) each start
their own children and report failures their own way (``pytest.fail``, ``BenchError``); the waiting and the
stopping are the same, so they live here once.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import time

import httpx


def free_port() -> int:
    """A port free on 127.0.0.1 now, for a child's HTTP server (the OS picks it: runs side by side never clash)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ephemeral_range() -> tuple[int, int]:
    """Where the kernel picks client sockets' ports (Linux; the common default elsewhere)."""
    try:
        low, high = open("/proc/sys/net/ipv4/ip_local_port_range").read().split()  # noqa: SIM115 - tiny read
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


#: above every fixed port of the local stack (16379 … 19333), so a service restarted by a test never finds its
#: port taken by a child's web server
_BLOCKS_FROM = 20_000


def free_port_block(count: int | None = None) -> int:
    """The first of ``count`` consecutive ports free on 127.0.0.1 (default: one per CPU and one for the live
    lane, :func:`streams.workers.process_plan`), for ``photostream worker``, whose process *i* serves
    ``WORKER_WEB_PORT + i``.

    Why not :func:`free_port`: only the first port of its block would have been checked, and inside the
    ephemeral range any client connection may take the next one meanwhile (a bench run lost its second worker
    process to ``address already in use``). So the block lies between the stack's fixed ports and the
    ephemeral range, and is checked whole.
    """
    count = count or (os.cpu_count() or 2) + 1
    low, _ = _ephemeral_range()
    for _ in range(200):
        base = random.randrange(_BLOCKS_FROM, max(_BLOCKS_FROM + 1, low - count))
        sockets: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError(f"no {count} consecutive free ports below {low}")


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout_s: float, status: int = 200) -> str | None:
    """None once ``url`` answers ``status``; otherwise why not (the child exited, or time ran out), for the
    caller to raise as its own kind of failure. Polls (a child has no readiness signal but its HTTP port)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"the process exited ({proc.returncode})"
        try:
            if httpx.get(url, timeout=2).status_code == status:
                return None
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return f"{url} did not answer {status} in {timeout_s}s"


def stop(proc: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """SIGTERM, then SIGKILL if it has not gone within ``grace_s``: its shutdown hooks (the final offset
    commit) get their chance, and a hung child cannot hold the run up. Only this process, by its own pid."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
