"""Claiming a Redis database of the shared local stack for one run (a test session, a benchmark run).

Many runs share one Redis: the demo in database 0, the benchmarks in 15, test sessions and namespaces people
start by hand in the others. A run takes only an *empty* database and marks it (``SET NX`` of
:data:`CLAIM_KEY`), so two runs never share one and a run never flushes someone else's data at its end (a
test session picked one at random and flushed it when done: a namespace someone was using on it lost its
views).
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

CLAIM_KEY = "photostream:claimed-by"


class NoFreeDatabaseError(RuntimeError):
    """Every candidate database holds data or is claimed."""


def claim_empty_db(base_url: str, run_id: str, candidates: Iterable[int]) -> int:
    """The first of ``candidates`` that is empty, claimed for ``run_id``."""
    tried = list(candidates)
    for db in tried:
        client = redis.Redis.from_url(f"{base_url}/{db}")
        try:
            if client.dbsize() == 0 and client.set(CLAIM_KEY, run_id, nx=True):
                return db
        finally:
            client.close()
    raise NoFreeDatabaseError(f"no empty Redis database among {tried} at {base_url}")


def release(url: str, run_id: str) -> bool:
    """Flush the database at ``url`` if ``run_id`` holds it (or nobody does); False if another run claimed it."""
    client = redis.Redis.from_url(url)
    try:
        if client.get(CLAIM_KEY) not in (run_id.encode(), None):
            return False
        client.flushdb()
        return True
    finally:
        client.close()
