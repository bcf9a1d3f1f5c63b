"""follow-changed records → follow changes (applied by the feeds processor, streams/feeds.py)."""

from __future__ import annotations

from typing import Any

from producers.ids import is_recurring_id
from sinks.graph import FollowChange


def follow_change(event: dict[str, Any]) -> FollowChange:
    """The change an event describes; ``ValueError`` (→ DLQ) for one no client could have made."""
    follower, followee = event["follower_id"], event["followee_id"]
    if not (is_recurring_id(follower) and is_recurring_id(followee)):
        raise ValueError("follower_id/followee_id: not ids")
    if follower == followee:
        raise ValueError("followee_id: a user cannot follow themself")
    return FollowChange(follower, followee, event["action"] == "follow", int(event["occurred_at"]),
                        str(event["event_id"]))
