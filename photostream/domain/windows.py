"""Window arithmetic on epoch milliseconds (pure; time is always passed in)."""

from __future__ import annotations


def tumbling_start(ts_ms: int, size_ms: int) -> int:
    """Start of the tumbling window of ``size_ms`` holding ``ts_ms``."""
    return ts_ms - ts_ms % size_ms


def bucket_starts(end_ms: int, span_ms: int, bucket_ms: int) -> list[int]:
    """Starts of the buckets covering the hopping window ``[end_ms - span_ms, end_ms)``, newest first.

    The window hops by ``bucket_ms``: it covers the bucket holding ``end_ms`` and the ones before it.
    """
    last = tumbling_start(end_ms, bucket_ms)
    return [last - i * bucket_ms for i in range(span_ms // bucket_ms)]
