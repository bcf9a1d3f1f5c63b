"""What an account deletion means for the rest of the system, as events (pure).

A deleted account's posts, follows, likes and comments are retracted through the paths every other retraction
takes: one ``post-deleted`` per post (feeds, hashtag counts, people tags and grids follow), one
``follow-changed`` unfollow per edge in either direction (feeds and follower counts follow), one
``like-changed`` unlike per like (like counts, popularity and notifications follow), one ``comment-deleted``
per comment (threads and comment counts follow, owned by the post's partition like any deletion), and one
``MESSAGES_READ`` per person holding the account's unread messages, up to the newest of them (it leaves their
badges as if they had read it), and one ``follow-requested`` denial per request it sent that still waits (the
owner's list and "wants to follow you" follow, as for a withdrawal).
So every view stays a projection of its topics, and `photostream rebuild` derives the same result.

Ids derive from the deletion's event id and the subject, and every event carries the deletion's time: a purge
replayed before its effects were applied re-emits the same facts (duplicates, not new ones); one replayed
after finds nothing left and emits nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from producers.ids import deterministic_id, last_id_at


@dataclass(frozen=True)
class Deletion:
    """One ``account-deleted`` event."""

    event_id: str
    user_id: str
    occurred_at: int  # ms

    @classmethod
    def of(cls, event: dict[str, Any]) -> Deletion:
        return cls(str(event["event_id"]), str(event["user_id"]), int(event["occurred_at"]))


@dataclass(frozen=True)
class Footprint:
    """What the account left that others see: its posts, both directions of its follows, its likes, its
    comments (post id, comment id, written at, ms), the messages it sent that wait unread in others' badges
    (recipient, newest such message id), and the follow requests it sent that wait for an answer."""

    posts: list[str]
    following: list[str]
    followers: list[str]
    liked_posts: list[str]
    unread_by: list[tuple[str, str]] = field(default_factory=list)
    comments: list[tuple[str, str, int]] = field(default_factory=list)
    #: the accounts it asked to follow whose answer is still pending
    requested: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.posts or self.following or self.followers or self.liked_posts or self.unread_by
                    or self.comments or self.requested)


def retractions(deletion: Deletion, footprint: Footprint) -> list[tuple[str, dict[str, Any]]]:
    """(topic, fields) of every event that retracts ``footprint`` (fields complete, ids deterministic)."""
    user, at = deletion.user_id, deletion.occurred_at

    def fields(kind: str, parts: Iterable[str], **values: Any) -> dict[str, Any]:
        return {"event_id": deterministic_id("account-purge", deletion.event_id, kind, *parts),
                "occurred_at": at, **values}

    out: list[tuple[str, dict[str, Any]]] = []
    out += [("post-deleted", fields("post", [p], post_id=p, author_id=user)) for p in footprint.posts]
    out += [("follow-changed", fields("unfollow", [user, f], follower_id=user, followee_id=f, action="unfollow"))
            for f in footprint.following if f != user]
    out += [("follow-changed", fields("unfollow", [f, user], follower_id=f, followee_id=user, action="unfollow"))
            for f in footprint.followers if f != user]
    out += [("like-changed", fields("unlike", [p], post_id=p, user_id=user, action="unlike"))
            for p in footprint.liked_posts]
    out += [("comment-deleted", fields("comment", [c], comment_id=c, post_id=p, user_id=user, actor_id=user,
                                       commented_at=written))
            for p, c, written in footprint.comments]
    out += [("MESSAGES_READ", fields("read", [r, up_to or ""], user_id=r, sender_id=user,
                                     read_up_to_msg_id=up_to or last_id_at(at)))
            for r, up_to in footprint.unread_by if r != user]
    out += [("follow-requested", fields("request", [f], follower_id=user, followee_id=f, action="deny"))
            for f in footprint.requested if f != user]
    return out
