"""Per-post engagement as exact set transitions (pure): a like is a user's membership, a comment an id.

A user's like toggles their membership (like/unlike); a comment id counts once. Counts change only on a
transition, so duplicates, replays and re-deliveries after a crash change nothing.
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
    comments: set[str] = field(default_factory=set)
    changed_likes: dict[str, bool] = field(default_factory=dict)
    new_comments: set[str] = field(default_factory=set)

    def apply(self, topic: str, event: dict[str, Any]) -> bool:
        """Like/unlike toggles a user's membership; a comment id counts once. True if counts changed."""
        if topic == "comment-added":
            if event["comment_id"] in self.comments:
                return False
            self.comments.add(event["comment_id"])
            self.new_comments.add(event["comment_id"])
            self.comment_count += 1
            return True
        liked = event["action"] == "like"
        if self.likes.get(event["user_id"], False) == liked:
            return False
        self.likes[event["user_id"]] = liked
        self.changed_likes[event["user_id"]] = liked
        self.like_count += 1 if liked else -1
        return True

    @property
    def dirty(self) -> bool:
        return bool(self.changed_likes or self.new_comments)
