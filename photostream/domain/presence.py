"""Presence: whether a user is online now, and when they were last seen.

``presence-changed`` events are transitions computed by the API from a user's live WebSocket connections (the
first device connecting: online; the last one leaving or expiring: offline), stamped with a per-user strictly
increasing time. The state is last-writer-wins on that time, so arrival order, duplicates and replays do not
matter; a tie resolves to offline (the safe side: a user wrongly offline becomes online again with the next
connection, a user wrongly online would stay so). ``last_seen`` is the newest event time of either kind: the
moment the user last connected or left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["online", "offline"]


@dataclass(frozen=True)
class Presence:
    status: Status
    changed_at: int  # ms: the event that set ``status``
    last_seen: int  # ms


def apply_presence(state: Presence | None, status: Status, at: int) -> Presence:
    """The presence after one more event."""
    if state is None:
        return Presence(status, at, at)
    last_seen = max(state.last_seen, at)
    if at < state.changed_at or (at == state.changed_at and (state.status == "offline" or status == "online")):
        return Presence(state.status, state.changed_at, last_seen)
    return Presence(status, at, last_seen)
