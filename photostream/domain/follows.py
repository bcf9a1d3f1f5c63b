"""Follow pairs as last-writer-wins state: the newest event of a pair by ``occurred_at`` decides.

Arrival order does not matter, duplicates and replays change nothing, and a follower count moves only when a
pair's state really changes, so counts stay exact under at-least-once delivery. Ties resolve to "not
following", as a Cassandra DELETE wins over an INSERT with the same timestamp (the graph tables agree).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PairState:
    following: bool
    changed_at: int  # ms: occurred_at of the event that set it


def apply_change(state: PairState | None, follow: bool, occurred_at: int) -> PairState | None:
    """The pair's state after an event (``None``: never seen). Older events than the state lose."""
    if state is not None:
        if occurred_at < state.changed_at:
            return state
        if occurred_at == state.changed_at and (state.following is False or follow):
            return state
    return PairState(follow, occurred_at)


def count_delta(before: PairState | None, after: PairState | None) -> int:
    """How the followee's follower count moves from ``before`` to ``after``."""
    was = before is not None and before.following
    now = after is not None and after.following
    return int(now) - int(was)
