"""Follow pairs as last-writer-wins state: the newest event of a pair decides, by ``occurred_at``, then by
event id.

Arrival order does not matter, duplicates and replays change nothing, and a follower count moves only when a
pair's state really changes, so counts stay exact under at-least-once delivery. Two changes of one millisecond
resolve by event id, as likes do (:mod:`photostream.domain.engagement`): UUIDv7s, which one producer makes in
order, so an unfollow then a follow sent together leave the pair following (a "not following wins ties" rule
unfollowed it), and a copy of the earlier change arriving later loses to the one that stands. A pair stored
before event ids were kept (``changed_by`` empty), and a tie with an unfollow a block or an account deletion
implies (its id derived, not made in order), still resolve to "not following".

The graph's edge rows are written from the resolved state, with a cell timestamp (``edge_ts``, microseconds)
raised with every change, so the edges follow the state even where a tie was not the newer write's by time.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PairState:
    following: bool
    changed_at: int  # ms: occurred_at of the event that set it
    changed_by: str = ""  # the event id of that event ("" for a pair stored before ids were kept)
    edge_ts: int = 0  # µs: the cell timestamp the edge rows were written with for this state


def apply_change(state: PairState | None, follow: bool, occurred_at: int, event_id: str = "") -> PairState | None:
    """The pair's state after an event (``None``: never seen). Older events than the state lose."""
    if state is not None:
        if occurred_at < state.changed_at:
            return state
        if occurred_at == state.changed_at:
            if _made_in_order(event_id) and _made_in_order(state.changed_by):
                if event_id <= state.changed_by:  # (the same id: a duplicate)
                    return state
            elif state.following is False or follow:
                return state
    edge_ts = occurred_at * 1000
    if state is not None:
        edge_ts = max(edge_ts, (state.edge_ts or state.changed_at * 1000) + 1)
    return PairState(follow, occurred_at, event_id, edge_ts)


def _made_in_order(event_id: str) -> bool:
    """A UUIDv7 (its text order is the order its producer made it in). The unfollows a block or an account
    deletion implies carry ids derived from it (UUIDv5, :func:`producers.ids.deterministic_id`), whose order
    means nothing: against one of those, a tie stays "not following" (a follow of the block's millisecond won
    a tie by the hash's chance, and outlived the block)."""
    return len(event_id) == 36 and event_id[14] == "7"


def count_delta(before: PairState | None, after: PairState | None) -> int:
    """How the followee's follower count moves from ``before`` to ``after``."""
    was = before is not None and before.following
    now = after is not None and after.following
    return int(now) - int(was)
