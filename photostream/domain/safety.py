"""Blocks, mutes and reports: the pure rules (no I/O).

A block is symmetric in its effects: once either user blocked the other, neither sees the other's posts or
profile, nor may follow, like or comment on them — and the follows between them end, both ways. A mute is
one-sided and silent: the muter stops seeing the muted account's posts in their feed (older ones too), the muted
user notices nothing. Both are toggles ordered by the time they happened (last writer wins), so a replayed or
duplicated event changes nothing.

The stores keep, per user, one row per other user they have a relation with (see ``sinks/safety.py``); a
:class:`Relation` is that row seen from its owner.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from producers.ids import deterministic_id, is_recurring_id, last_id_at

Kind = Literal["block", "mute"]


@dataclass(frozen=True)
class Relation:
    """How one user (the row's owner) and another are related, from the owner's side."""

    i_block: bool = False  # the owner blocked the other
    blocks_me: bool = False  # the other blocked the owner
    i_mute: bool = False  # the owner muted the other
    mutes_me: bool = False  # the other muted the owner


NONE = Relation()


def blocked_either_way(relation: Relation) -> bool:
    """True if either of the two blocked the other: each is then as absent to the other (404)."""
    return relation.i_block or relation.blocks_me


def hidden_from_feed(reader_side: Relation) -> bool:
    """Whether the row's owner (a reader) never sees the other user's posts in their feed: blocked either way,
    or the reader muted them. The same rule as :func:`skip_in_fan_out`, seen from the reader's side."""
    return blocked_either_way(reader_side) or reader_side.i_mute


def skip_in_fan_out(author_side: Relation) -> bool:
    """Whether a post of the row's owner (an author) skips the other user (a follower) at fan-out: blocked
    either way, or the follower muted the author."""
    return blocked_either_way(author_side) or author_side.mutes_me


@dataclass(frozen=True)
class SafetyChange:
    """One block/mute toggle of ``actor_id`` against ``target_id`` (a user id, or a tag for a tag mute)."""

    kind: Kind
    actor_id: str
    target_id: str
    on: bool
    occurred_at: int  # ms
    target_kind: Literal["user", "hashtag"] = "user"


def safety_change(kind: Kind, event: dict[str, Any]) -> SafetyChange:
    """The change a block-changed/mute-changed event describes; ``ValueError`` (→ DLQ) for one no client could
    have made."""
    target_kind: Literal["user", "hashtag"] = "hashtag" if event.get("target_kind") == "hashtag" else "user"
    actor, target = event["actor_id"], event["target_id"]
    if not is_recurring_id(actor):
        raise ValueError("actor_id: not an id")
    if target_kind == "user":
        if not is_recurring_id(target):
            raise ValueError("target_id: not an id")
        if actor == target:
            raise ValueError("target_id: a user cannot target themselves")
    elif kind != "mute" or not target:
        raise ValueError("target_kind: only a mute may target a hashtag")
    return SafetyChange(kind, actor, target, event["action"] == "on", int(event["occurred_at"]), target_kind)


def ending_at(block: SafetyChange, standing_at: int | None) -> int:
    """The time a block's effects carry: its own, or, when it was found still standing as they were derived
    (``standing_at``, its processing time), that moment. Nothing across a standing block is legitimate (a
    follow, like, comment or tag checked by the API before the block existed and applied just after it), and
    anything after a later unblock is later still; a block re-processed after its unblock keeps its own time."""
    return block.occurred_at if standing_at is None else max(block.occurred_at, standing_at)


def unfollows_of_block(block: SafetyChange, block_event_id: str, standing_at: int | None = None
                       ) -> list[dict[str, Any]]:
    """The follow-changed records a block implies: both directions end, at the block's time. Ids derive from the
    block event's id, so re-processing the block re-emits the same two events (duplicates, not new facts).

    ``standing_at``: see :func:`ending_at` (an approval racing the block was checked before the block existed,
    and its follow, later than the block, outlived an unfollow at the block's time)."""
    if block.kind != "block" or not block.on:
        return []
    at = ending_at(block, standing_at)
    return [{"event_id": deterministic_id("block-unfollow", block_event_id, follower, followee),
             "occurred_at": at, "follower_id": follower, "followee_id": followee,
             "action": "unfollow"}
            for follower, followee in ((block.actor_id, block.target_id), (block.target_id, block.actor_id))]


def request_closings_of_block(block: SafetyChange, block_event_id: str) -> list[dict[str, Any]]:
    """The follow-requested denials a block implies: a pending request either way is closed at the block's time
    (ids derived as for :func:`unfollows_of_block`). Published, not only applied where requests are stored, so
    everything that follows requests sees the closing: the followee's "wants to follow you" notification is
    withdrawn as for any denial (it stayed, for a request nobody could approve any more)."""
    if block.kind != "block" or not block.on:
        return []
    return [{"event_id": deterministic_id("block-request-closed", block_event_id, follower, followee),
             "occurred_at": block.occurred_at, "follower_id": follower, "followee_id": followee,
             "action": "deny"}
            for follower, followee in ((block.actor_id, block.target_id), (block.target_id, block.actor_id))]


def unlikes_of_block(block: SafetyChange, block_event_id: str,
                     likes_across: Iterable[tuple[str, str]], standing_at: int | None = None) -> list[dict[str, Any]]:
    """The like-changed unlikes a block implies: each side's likes of the other's posts (``likes_across``:
    (liker, post id) pairs) end at the block's time (:func:`ending_at`), as a block removes a person's likes
    from your photos. Ids derive from the block's event id, liker and post, so a replay re-emits the same
    events."""
    if block.kind != "block" or not block.on:
        return []
    at = ending_at(block, standing_at)
    return [{"event_id": deterministic_id("block-unlike", block_event_id, liker, post_id),
             "occurred_at": at, "post_id": post_id, "user_id": liker, "action": "unlike"}
            for liker, post_id in likes_across]


class CommentAcross(NamedTuple):
    """A comment by one side of a block on a post of the other."""

    commenter: str
    post_id: str
    comment_id: str
    commented_at: int  # ms


def comment_deletions_of_block(block: SafetyChange, block_event_id: str, comments_across: Iterable[CommentAcross],
                               standing_at: int | None = None) -> list[dict[str, Any]]:
    """The comment-deleted events a block implies: each side's comments on the other's posts are deleted by the
    blocker at the block's time, as a block removes a person's comments from your photos (they stayed, readable
    by everyone but the blocker). Final, like any comment deletion: an unblock does not bring them back. Ids
    derive as for :func:`unlikes_of_block`."""
    if block.kind != "block" or not block.on:
        return []
    at = ending_at(block, standing_at)  # (a comment racing a standing block is its to delete: :func:`ending_at`)
    return [{"event_id": deterministic_id("block-comment-deleted", block_event_id, c.comment_id),
             "occurred_at": at, "comment_id": c.comment_id, "post_id": c.post_id,
             "user_id": c.commenter, "actor_id": block.actor_id, "commented_at": c.commented_at}
            for c in comments_across
            # written after the block (after an unblock, found by a replay or a re-delivered block): not its
            # to delete. What it finds is the state when it is applied, so it keeps what it may by its time
            if c.commented_at <= at]


class TagAcross(NamedTuple):
    """A people tag of one side of a block on a photo of the other's post."""

    tagged: str
    post_id: str
    image_id: str


def untags_of_block(block: SafetyChange, block_event_id: str, tags_across: Iterable[TagAcross],
                    standing_at: int | None = None) -> list[dict[str, Any]]:
    """The photo-tag-changed removals a block implies: each side's tags on the other's photos end at the block's
    time, as a block removes you from the blocker's photos and them from yours (they stayed: the blocked person's
    name on the blocker's photo, the blocker's photo in the blocked person's "photos of you"). Removed as the
    tagged person removing themselves, so nobody is notified. Ids derive as for :func:`unlikes_of_block`."""
    if block.kind != "block" or not block.on:
        return []
    at = ending_at(block, standing_at)
    return [{"event_id": deterministic_id("block-untag", block_event_id, t.post_id, t.image_id, t.tagged),
             "occurred_at": at, "post_id": t.post_id, "image_id": t.image_id,
             "tagger_id": t.tagged, "tagged_id": t.tagged, "action": "remove", "x": None, "y": None,
             "pending": False}
            for t in tags_across]


def reads_of_block(block: SafetyChange, block_event_id: str) -> list[dict[str, Any]]:
    """The MESSAGES_READ marks a block implies: each side's messages from the other, up to the block's
    millisecond, leave the badge as read at the block's time — the blocked person no longer counts among those
    who wrote to you (after an unblock too: the messages stay read). Both marks, whatever the badges hold when
    the block is applied: a message sent before the block but delivered after it (a messaging service's retry,
    a lagging partition) found no mark and counted, and marks only ever move up, so one more is harmless."""
    if block.kind != "block" or not block.on:
        return []
    # read up to the block's millisecond, never further: messages sent after it (after an unblock, found by a
    # replay or a re-delivered block) stay unread
    bound = last_id_at(block.occurred_at)
    return [{"event_id": deterministic_id("block-read", block_event_id, owner, sender),
             "occurred_at": block.occurred_at, "user_id": owner, "sender_id": sender, "read_up_to_msg_id": bound}
            for owner, sender in ((block.actor_id, block.target_id), (block.target_id, block.actor_id))]


#: Why content is reported: a fixed list of codes (moderation tooling groups and prioritises by them).
REPORT_REASONS: tuple[str, ...] = (
    "spam", "nudity", "harassment", "hate_speech", "violence", "self_harm", "scam", "false_information",
    "intellectual_property", "impersonation", "other",
)
ReportReason = Literal[
    "spam", "nudity", "harassment", "hate_speech", "violence", "self_harm", "scam", "false_information",
    "intellectual_property", "impersonation", "other",
]
MAX_REPORT_DETAILS_CHARS = 1000


def muted_tags_hidden(tags: list[str], muted: set[str]) -> list[str]:
    """``tags`` in order without the ones the viewer muted (trending, related tags)."""
    return [t for t in tags if t not in muted]
