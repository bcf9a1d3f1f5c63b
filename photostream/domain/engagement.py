"""Per-post engagement as exact set transitions (pure): a like is a user's membership, a comment an id.

A user's like toggles their membership (like/unlike); a comment id counts once, until it is deleted. A deletion
is final and remembered (the id stays, marked gone), so a comment-added seen after its deletion (the two topics
are not ordered against each other; a replay) never counts it again. Counts change only on a
transition, so duplicates, replays and re-deliveries after a crash change nothing. A user's likes and unlikes
of one post resolve by ``occurred_at``, not by arrival: the one that stands keeps its time, and an older one
arriving later (a copy sent back from a DLQ, a second producer's late retry) changes nothing, as follows do.
Changes of the same millisecond resolve by event id (UUIDv7s, made in order by one producer): one client's like,
unlike and like again within a millisecond keep their real order (an "unlike wins ties" rule lost that like),
and a copy of an earlier one arriving later (a re-send, a partial replay) loses to the one that stands (log
order let it flip the answer back). A total order, so the answer never depends on arrival.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Engagement:
    """One post's counts and the like/comment memberships a batch touches."""

    post_id: str
    like_count: int = 0
    comment_count: int = 0
    likes: dict[str, bool] = field(default_factory=dict)  # user_id -> liked now
    like_times: dict[str, int] = field(default_factory=dict)  # user_id -> occurred_at of the change that stands
    like_events: dict[str, str] = field(default_factory=dict)  # user_id -> event id of the change that stands
    comments: dict[str, bool] = field(default_factory=dict)  # comment_id -> still there (False: deleted)
    changed_likes: dict[str, bool] = field(default_factory=dict)
    changed_comments: dict[str, bool] = field(default_factory=dict)

    def apply(self, topic: str, event: dict[str, Any]) -> bool:
        """Like/unlike toggles a user's membership; a comment id counts once, a deleted one never again. True
        if counts changed."""
        if topic == "comment-added":
            if event["comment_id"] in self.comments:  # counted already, or deleted already
                return False
            self.comments[event["comment_id"]] = self.changed_comments[event["comment_id"]] = True
            self.comment_count += 1
            return True
        if topic == "comment-deleted":
            there = self.comments.get(event["comment_id"])
            if there is False:
                return False
            self.comments[event["comment_id"]] = self.changed_comments[event["comment_id"]] = False
            if there:
                self.comment_count = max(0, self.comment_count - 1)
                return True
            return False  # deleted before its add was seen: remembered, so the add never counts
        user, liked = event["user_id"], event["action"] == "like"
        at, event_id = int(event.get("occurred_at") or 0), str(event.get("event_id") or "")
        stood = (self.like_times.get(user, 0), self.like_events.get(user, ""))
        if user in self.like_times and (at, event_id) <= stood:
            return False  # the change that stands, or one before it (by time, then id): it changes nothing
        self.like_times[user], self.like_events[user] = at, event_id
        if self.likes.get(user, False) == liked:
            # the same answer, newer: its time and id are kept (an older opposite one must lose to it)
            self.likes[user] = self.changed_likes[user] = liked
            return False
        self.likes[user] = liked
        self.changed_likes[user] = liked
        self.like_count += 1 if liked else -1
        return True

    @property
    def dirty(self) -> bool:
        return bool(self.changed_likes or self.changed_comments)
