"""Exact per-tag tallies as set transitions (pure).

A tag's state is the set of posts carrying it. Each post moves at most ``absent → present → retracted``
(retracted is final: a stale or duplicated add after a retract is ignored). Counts change only on a
transition, so duplicates, replays and re-deliveries after a crash change nothing. The caller loads the
membership of the posts in a batch and the current counts, applies the events, and writes the changed
rows and the new absolute counts together (one Cassandra partition per tag, so the write is atomic).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from photostream.domain.windows import tumbling_start

PRESENT, RETRACTED = True, False


@dataclass
class TagState:
    """What is known of one tag: loaded before a batch, mutated by :func:`apply`, written after."""

    tag: str
    post_count: int = 0
    members: dict[str, bool] = field(default_factory=dict)  # post_id -> PRESENT / RETRACTED
    windows: dict[int, int] = field(default_factory=dict)  # window start (ms) -> live posts created in it
    related: dict[str, int] = field(default_factory=dict)  # co-occurring tag -> live posts sharing both
    changed_members: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed_windows: set[int] = field(default_factory=set)
    changed_related: set[str] = field(default_factory=set)

    @property
    def dirty(self) -> bool:
        return bool(self.changed_members)


def apply(state: TagState, event: dict[str, Any], window_ms: int) -> bool:
    """Apply one post-hashtag event; True if it changed the tally."""
    post_id = event["post_id"]
    current = state.members.get(post_id)
    if event["action"] == "add":
        if current is not None:  # duplicate, replay, or a stale add after a retract
            return False
        sign = 1
        state.members[post_id] = PRESENT
    else:
        if current is RETRACTED:
            return False
        state.members[post_id] = RETRACTED
        if current is None:  # retract seen before (or without) its add: remember, count nothing
            state.changed_members[post_id] = _member_row(event, RETRACTED)
            return False
        sign = -1
    state.changed_members[post_id] = _member_row(event, state.members[post_id])
    state.post_count += sign
    window = tumbling_start(int(event["post_created_at"]), window_ms)
    state.windows[window] = state.windows.get(window, 0) + sign
    state.changed_windows.add(window)
    for other in event.get("post_tags", ()):
        if other != state.tag:
            state.related[other] = state.related.get(other, 0) + sign
            state.changed_related.add(other)
    return True


def _member_row(event: dict[str, Any], present: bool) -> dict[str, Any]:
    return {"author_id": event["author_id"], "post_created_at": int(event["post_created_at"]), "present": present}


def top_related(related: dict[str, int], n: int = 10) -> list[str]:
    """The ``n`` tags co-occurring most, ties broken alphabetically for a stable answer."""
    return [tag for tag, count in sorted(related.items(), key=lambda kv: (-kv[1], kv[0])) if count > 0][:n]
