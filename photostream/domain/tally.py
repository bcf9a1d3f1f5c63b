"""Exact per-tag tallies as set transitions (pure).

A tag's state is the set of posts carrying it. Each post moves at most ``absent → present → retracted``
(retracted is final: a stale or duplicated add after a retract is ignored). Counts change only on a
transition, so duplicates, replays and re-deliveries after a crash change nothing.

A present post may also be *hidden* (its author's account turned private: ``cause="audience"`` events):
hidden posts are members that count nowhere. Hiding and showing are ordered per post by ``as_of`` (the
profile change's time): a change older than the one applied is ignored, so a replay, or a create seen after
the privacy change that followed it, ends where the latest change says. A hide or show that arrives before the
post's own add makes the post a member (hidden or shown) at once; the add is then the duplicate. The caller loads the
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
    #: post_id -> (hidden, as_of) for present posts whose audience changed at least once
    audience: dict[str, tuple[bool, int]] = field(default_factory=dict)
    windows: dict[int, int] = field(default_factory=dict)  # window start (ms) -> live posts created in it
    related: dict[str, int] = field(default_factory=dict)  # co-occurring tag -> live posts sharing both
    changed_members: dict[str, dict[str, Any]] = field(default_factory=dict)
    changed_windows: set[int] = field(default_factory=set)
    changed_related: set[str] = field(default_factory=set)

    @property
    def dirty(self) -> bool:
        return bool(self.changed_members)


def counted(state: TagState, post_id: str) -> bool:
    """Whether the post counts for the tag now: present and not hidden."""
    return state.members.get(post_id) is PRESENT and not state.audience.get(post_id, (False, 0))[0]


def apply(state: TagState, event: dict[str, Any], window_ms: int) -> bool:
    """Apply one post-hashtag event; True if it changed the tally."""
    if event.get("cause", "post") == "audience":
        return _apply_audience(state, event, window_ms)
    post_id = event["post_id"]
    current = state.members.get(post_id)
    was_counted = counted(state, post_id)
    if event["action"] == "add":
        if current is not None:  # duplicate, replay, or a stale add after a retract
            return False
        state.members[post_id] = PRESENT
    else:
        if current is RETRACTED:
            return False
        state.members[post_id] = RETRACTED
    state.changed_members[post_id] = _member_row(state, event)
    return _count(state, event, window_ms, int(counted(state, post_id)) - int(was_counted))


def _apply_audience(state: TagState, event: dict[str, Any], window_ms: int) -> bool:
    """Hide (retract) or show (add) a post because its author's account turned private or public."""
    post_id, as_of = event["post_id"], int(event["as_of"])
    current = state.members.get(post_id)
    if current is RETRACTED or as_of <= state.audience.get(post_id, (False, -1))[1]:
        return False  # deleted for good, or a change older than the one applied
    was_counted = counted(state, post_id)
    state.members[post_id] = PRESENT
    state.audience[post_id] = (event["action"] == "retract", as_of)
    state.changed_members[post_id] = _member_row(state, event)
    return _count(state, event, window_ms, int(counted(state, post_id)) - int(was_counted))


def _count(state: TagState, event: dict[str, Any], window_ms: int, sign: int) -> bool:
    """Move the tag's counts by ``sign`` (−1, 0, +1) for the event's post."""
    if sign == 0:
        return False
    state.post_count += sign
    window = tumbling_start(int(event["post_created_at"]), window_ms)
    state.windows[window] = state.windows.get(window, 0) + sign
    state.changed_windows.add(window)
    for other in event.get("post_tags", ()):
        if other != state.tag:
            state.related[other] = state.related.get(other, 0) + sign
            state.changed_related.add(other)
    return True


def _member_row(state: TagState, event: dict[str, Any]) -> dict[str, Any]:
    """The membership row to store; a retracted post keeps no author (it counts for nobody again, and the row
    outlives the post: a deleted account's authorship stayed in every tag it had used)."""
    hidden, as_of = state.audience.get(event["post_id"], (False, 0))
    present = state.members[event["post_id"]]
    return {"author_id": event["author_id"] if present is PRESENT else None,
            "post_created_at": int(event["post_created_at"]), "present": present, "hidden": hidden,
            "audience_as_of": as_of}


def top_related(related: dict[str, int], n: int = 10) -> list[str]:
    """The ``n`` tags co-occurring most, ties broken alphabetically for a stable answer."""
    return [tag for tag, count in sorted(related.items(), key=lambda kv: (-kv[1], kv[0])) if count > 0][:n]
