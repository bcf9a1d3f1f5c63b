"""Feed rules, pure: delivery tier with hysteresis, and newest-first merging of id streams.

Post ids are UUIDv7 strings, so lexicographic order is time order: feeds, celebrity sets and Cassandra
partitions are all ordered by id, and a cursor is simply the last id a page showed (stable while new posts
arrive: they sort above it).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from typing import Literal

Delivery = Literal["push", "pull"]


def delivery_tier(follower_count: int, previous: Delivery | None, threshold: int, low_mark: int) -> Delivery:
    """Push (fan-out on write) up to ``threshold`` followers, pull (merge on read) above it.

    Hysteresis: an account that became pull goes back to push only below ``low_mark``, so an account
    hovering around the threshold does not flip on every follow. Between the marks the previous tier holds.
    """
    if follower_count > threshold:
        return "pull"
    if follower_count < low_mark:
        return "push"
    return previous or "push"


def merge_newest(streams: Iterable[Iterable[str]], limit: int) -> list[str]:
    """The newest ``limit`` distinct ids of several newest-first streams (a k-way merge)."""
    merged: list[str] = []
    seen: set[str] = set()
    for post_id in heapq.merge(*streams, reverse=True):
        if post_id in seen:
            continue
        seen.add(post_id)
        merged.append(post_id)
        if len(merged) == limit:
            break
    return merged
