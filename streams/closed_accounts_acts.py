"""Posts, follows, requests and tags of an account whose deletion was accepted, retracted by their owners.

The purge (:mod:`streams.account_purge`) marks the account closed (``auth:closed``), then reads what it did (its
posts, follow edges, the requests it sent) and publishes their retractions. Two kinds of act are in no such
reading: one the owning processor refused because the mark already stood, and one it wrote after the reading.
The notifications processor reads the same topics apart and may have notified either ("followed you" by nobody,
for good: the fault tests' workload with account deletions found one), and one written late stays where it was
written. So, once its write is durable, the owning processor asks which of its batch's accounts are closed and
publishes the retraction of each of their posts, follows or requests: a deletion, an unfollow or a denial one
millisecond later, with an id derived from the act's (a retried batch publishes the same one), which every
processor applies as any other (the owner too). The mark comes first and the reading after, so either this
question or the purge's reading finds each act, as for likes and comments
(:func:`streams.engagement_blocks.retract_raced_engagement`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from producers.events import Event, build
from producers.ids import deterministic_id
from producers.publisher import Publisher
from sinks.accounts_requests import RequestChange
from sinks.graph import FollowChange
from sinks.revocations import closed_among
from streams.engine.records import Record

Act = TypeVar("Act", FollowChange, RequestChange, Record)


def _people(act: FollowChange | RequestChange | Record) -> tuple[str, ...]:
    """Whose deletion ends the act: either side of a follow, a request or a people tag; a post's author."""
    if isinstance(act, Record):
        value = act.value
        if act.topic == "photo-tag-changed":
            return str(value["tagged_id"]), str(value["tagger_id"])
        return (str(value["author_id"]),)
    return act.follower_id, act.followee_id


def post_deletion_of(post: Record) -> Event:
    """The deletion of a post (a ``post-created`` record) by a deleted account."""
    value = post.value
    return build("post-deleted", {"event_id": deterministic_id("closed-account-post-deleted", value["event_id"]),
                                  "occurred_at": int(value["occurred_at"]) + 1, "post_id": value["post_id"],
                                  "author_id": value["author_id"]})


def unfollow_of(follow: FollowChange) -> Event:
    """The end of a follow by or of a deleted account."""
    return build("follow-changed", {"event_id": deterministic_id("closed-account-unfollow", follow.event_id),
                                    "occurred_at": follow.occurred_at + 1, "follower_id": follow.follower_id,
                                    "followee_id": follow.followee_id, "action": "unfollow"})


def denial_of(request: RequestChange) -> Event:
    """The end of a follow request by or to a deleted account."""
    return build("follow-requested", {"event_id": deterministic_id("closed-account-deny", request.event_id),
                                      "occurred_at": request.occurred_at + 1, "follower_id": request.follower_id,
                                      "followee_id": request.followee_id, "action": "deny"})


async def retract_acts_of_closed_accounts(acts: Sequence[Act], retraction: Callable[[Act], Event], redis: Any,
                                          session: Any, publisher: Publisher | None, timeout_s: float) -> int:
    """Publish the ``retraction`` of each act (a follow, a request, a tag, a post) of an account closed now; how
    many.
    One ``MGET`` of the marks, none for a batch without such acts."""
    if publisher is None or not acts:
        return 0
    closed = await closed_among(redis, session, {p for act in acts for p in _people(act)})
    raced = [retraction(act) for act in acts if not closed.isdisjoint(_people(act))]
    if raced:
        await publisher.acknowledged(raced, timeout_s)
    return len(raced)
