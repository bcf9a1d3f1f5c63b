"""Notification rules, pure: which events notify whom, how they group, and what a group shows.

An event becomes zero or more :class:`Draft`\\ s (:func:`drafts_of`): someone (the *actor*) did something
(*kind*) to a *target* (a post or a user) that concerns a *recipient*. A draft's recipient may still need
resolving (the author of a post, the owner of an ``@username``); once resolved it is a :class:`Signal`.

Signals aggregate into groups: one notification per (recipient, kind, target, time bucket), whose members are
the distinct actors ("alice and 41 others liked your photo"). A signal either adds its actor to the group of its
own bucket or (an unlike, an unfollow, a withdrawn request or tag) retracts the actor from the group they were
last added to. Each group is fed by one topic partition (likes, comments, comment mentions and tags are keyed
by post; follows and follow requests by the followee; caption mentions by the author, and a post's caption is
one event), which is why every kind below has exactly one source topic.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from photostream.domain.accounts import USERNAME_MAX, USERNAME_MIN
from photostream.domain.safety import Relation, blocked_either_way
from producers.ids import is_recurring_id

Kind = Literal["like", "comment", "mention", "comment_mention", "follow", "follow_request", "follow_accepted",
               "tag", "tag_request"]
KINDS: tuple[Kind, ...] = ("like", "comment", "mention", "comment_mention", "follow", "follow_request",
                           "follow_accepted", "tag", "tag_request")
TargetKind = Literal["post", "user"]
#: kinds whose member is a standing state (liking, following, asking to follow, being tagged): adding an actor
#: who is a member already changes nothing (a double tap, a client's retry re-notified, and an unlike then
#: withdrew only the newest of two groups); comments and mentions are new acts each time, and notify again
STANDING_KINDS: frozenset[str] = frozenset({"like", "follow", "follow_request", "tag", "tag_request"})
#: kinds about a post (the recipient must still be allowed to see it); the others are about a user
POST_KINDS: frozenset[str] = frozenset({"like", "comment", "mention", "comment_mention", "tag", "tag_request"})
TAG_KINDS: frozenset[str] = frozenset({"tag", "tag_request"})
#: kinds whose membership is held per comment: a writer stays in an hour's group while any of their comments of
#: that hour stands (deleting one of two withdrew them, the other comment still there)
COMMENT_KINDS: frozenset[str] = frozenset({"comment", "comment_mention"})

#: ``@name`` not glued to a word or an e-mail address before it, nor to more name characters after it (a
#: longer word is no username, not the username of its first characters); matched case-insensitively
_MENTION = re.compile(rf"(?<![\w.@])@([A-Za-z0-9_.]{{{USERNAME_MIN},{USERNAME_MAX}}})(?![A-Za-z0-9_])")
#: at most this many distinct mentions of one text notify (a caption listing 500 names is spam)
MAX_MENTIONS = 20


@dataclass(frozen=True)
class Recipient:
    """Who a draft concerns: a user id, the author of a post, or the owner of a username."""

    by: Literal["user", "author_of", "username"]
    value: str


@dataclass(frozen=True)
class Draft:
    recipient: Recipient
    kind: Kind
    target_id: str
    actor: str
    present: bool  # False: retract the actor from the group
    at: int  # event time, epoch ms
    #: a retraction from the group of this time's bucket (a deleted comment's hour), not from where the actor
    #: was last added
    from_at: int | None = None
    #: the comment a :data:`COMMENT_KINDS` draft adds or withdraws (None: the actor whole, as a block does)
    comment_id: str | None = None

    def resolved(self, recipient: str, target_author: str | None = None) -> Signal:
        """The signal for ``recipient``. A tagged person's own act on their tag (``tagger_id == tagged_id``: a
        removal, an approval) is about who tagged them, the post's author (``target_author``): retracting the
        remover matched no member, and their "tagged you" (or "wants to tag you") stayed."""
        actor = self.actor
        if self.kind in TAG_KINDS and actor == recipient and target_author is not None:
            actor = target_author
        return Signal(recipient, self.kind, self.target_id, actor, self.present, self.at, self.from_at,
                      self.comment_id)


@dataclass(frozen=True)
class Signal:
    recipient: str
    kind: Kind
    target_id: str
    actor: str
    present: bool
    at: int
    from_at: int | None = None
    comment_id: str | None = None

    @property
    def target_kind(self) -> TargetKind:
        return target_kind_of(self.kind)

    @property
    def series(self) -> Series:
        return Series(self.recipient, self.kind, self.target_id)


@dataclass(frozen=True, order=True)
class Series:
    """A recipient's notifications of one kind about one target, across time buckets (a Cassandra partition)."""

    recipient: str
    kind: str
    target_id: str


@dataclass(frozen=True, order=True)
class Group:
    """One notification: a series within one time bucket."""

    series: Series
    bucket: int  # bucket start, epoch ms

    @property
    def id(self) -> str:
        return notification_id(self.bucket, self.series.kind, self.series.target_id)


def target_kind_of(kind: str) -> TargetKind:
    return "post" if kind in POST_KINDS else "user"


def notification_id(bucket: int, kind: str, target_id: str) -> str:
    """A notification's id: its bucket start first (13 digits: ids sort by time), then kind and target."""
    return f"{bucket:013d}.{kind}.{target_id}"


def parse_notification_id(value: str) -> tuple[int, str, str]:
    """``(bucket, kind, target_id)`` of an id; ``ValueError`` for anything :func:`notification_id` cannot make."""
    bucket, kind, target = [*value.split(".", 2), "", ""][:3]
    if len(bucket) != 13 or not bucket.isdigit() or kind not in KINDS or not is_recurring_id(target):
        raise ValueError("not a notification id")
    return int(bucket), kind, target


def bucket_of(at_ms: int, bucket_ms: int) -> int:
    return at_ms - at_ms % bucket_ms


@dataclass(frozen=True)
class ListPosition:
    """Where a page of a user's notifications ended: its last item's id and ``updated_at`` as it was served.

    Lists are newest first by ``updated_at`` (ties: id, descending), the order in which :func:`is_read` marks
    them read: a group is updated in place, so a like joining an hour-old group moves it to the top. That order
    is also bucket order (a group's ``updated_at`` is its newest member's time, inside its bucket), so a list is
    cut at a position, not at an id: an item updated after it was served moves above the position and is not
    served twice. ``updated_at`` None: a position from before positions carried it (a bare id), taken as its
    bucket's end (the rest of that bucket may show twice; nothing is skipped)."""

    id: str
    updated_at: int | None

    def encoded(self) -> str:
        return self.id if self.updated_at is None else f"{self.id}~{self.updated_at}"

    def updated_bound(self, bucket_ms: int) -> int:
        """The position's ``updated_at``, or for a bare id the last instant of its bucket."""
        return self.updated_at if self.updated_at is not None else parse_notification_id(self.id)[0] + bucket_ms - 1


def parse_list_position(value: str) -> ListPosition:
    """A position from its text (``id~updated_at``, or a bare id); ``ValueError`` for anything else."""
    notification, _, updated = value.partition("~")
    parse_notification_id(notification)
    if not _:
        return ListPosition(notification, None)
    if not updated.isdigit() or len(updated) > 15:
        raise ValueError("not a list position")
    return ListPosition(notification, int(updated))


def mentioned_usernames(text: str) -> list[str]:
    """The distinct usernames ``@mentioned`` in ``text`` (lower-case, first :data:`MAX_MENTIONS`, in order)."""
    names: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        name = match.group(1).rstrip(".").lower()
        if len(name) >= USERNAME_MIN:
            names[name] = None
    return list(names)[:MAX_MENTIONS]


def _ids(event: dict[str, Any], *fields: str) -> None:
    if not all(is_recurring_id(event[f]) for f in fields):
        raise ValueError(f"{'/'.join(fields)}: not ids")


def drafts_of(topic: str, event: dict[str, Any]) -> list[Draft]:
    """What one event means for notifications; ``ValueError`` (→ DLQ) for ids no client could have sent."""
    at = int(event["occurred_at"])
    if topic == "like-changed":
        _ids(event, "post_id", "user_id")
        return [Draft(Recipient("author_of", event["post_id"]), "like", event["post_id"], event["user_id"],
                      event["action"] == "like", at)]
    if topic == "comment-added":
        _ids(event, "post_id", "user_id")
        post, actor = event["post_id"], event["user_id"]
        comment = event["comment_id"]
        return [Draft(Recipient("author_of", post), "comment", post, actor, True, at, comment_id=comment),
                *(Draft(Recipient("username", name), "comment_mention", post, actor, True, at, comment_id=comment)
                  for name in mentioned_usernames(event["text"]))]
    if topic == "comment-deleted":  # the comment leaves that hour's "commented on your post"
        _ids(event, "post_id", "user_id", "comment_id", "actor_id")  # (every consumer refuses the same records)
        post = event["post_id"]
        return [Draft(Recipient("author_of", post), "comment", post, event["user_id"], False, at,
                      int(event["commented_at"]), event["comment_id"])]
    if topic == "post-created":
        _ids(event, "post_id", "author_id")
        return [Draft(Recipient("username", name), "mention", event["post_id"], event["author_id"], True, at)
                for name in mentioned_usernames(event["caption"])]
    if topic == "follow-changed":
        _ids(event, "follower_id", "followee_id")
        follower, followee = event["follower_id"], event["followee_id"]
        drafts = [Draft(Recipient("user", followee), "follow", followee, follower, event["action"] == "follow", at)]
        if event["action"] == "unfollow":  # "accepted your follow request" is moot once the follow ends (an
            # unfollow, a block, the account's deletion: it stayed, naming a deleted account)
            drafts.append(Draft(Recipient("user", follower), "follow_accepted", followee, followee, False, at))
        return drafts
    if topic == "follow-requested":
        _ids(event, "follower_id", "followee_id")
        follower, followee, action = event["follower_id"], event["followee_id"], event["action"]
        # the request is withdrawn from the followee's list once answered; an approval tells the requester
        drafts = [Draft(Recipient("user", followee), "follow_request", followee, follower, action == "request", at)]
        if action == "approve":
            drafts.append(Draft(Recipient("user", follower), "follow_accepted", followee, followee, True, at))
        return drafts
    if topic == "photo-tag-changed":
        _ids(event, "post_id", "tagger_id", "tagged_id")
        post, tagger, tagged, action = event["post_id"], event["tagger_id"], event["tagged_id"], event["action"]
        if action == "add":
            return [Draft(Recipient("user", tagged), "tag_request" if event["pending"] else "tag", post, tagger,
                          True, at)]
        if action == "remove":  # the tag is gone: neither "tagged you" nor "wants to tag you" stands
            return [Draft(Recipient("user", tagged), kind, post, tagger, False, at) for kind in ("tag", "tag_request")]
        # approve (the tagged person's own act): "wants to tag you" is answered, and now they are tagged
        return [Draft(Recipient("user", tagged), "tag_request", post, tagger, False, at),
                Draft(Recipient("user", tagged), "tag", post, tagger, True, at)]
    return []


# --- rules ---

def muted_or_blocked(recipient_side: Relation | None) -> bool:
    """The recipient blocked the actor, the actor blocked the recipient, or the recipient muted the actor."""
    return recipient_side is not None and (blocked_either_way(recipient_side) or recipient_side.i_mute)


def notifies(signal: Signal, recipient_side: Relation | None, may_see_post: bool) -> bool:
    """Whether an *added* actor is shown to the recipient: never their own action, never someone they blocked
    or muted (or who blocked them), never about a post they may not see. Retractions always apply."""
    if not signal.present:
        return True
    if signal.actor == signal.recipient or muted_or_blocked(recipient_side):
        return False
    return may_see_post or signal.target_kind != "post"


# --- folding a batch ---

@dataclass(frozen=True)
class MemberChange:
    """What a batch does to one (series, actor): retract from the stored latest group (at ``retract_at``),
    then add to the group of ``add_at``'s bucket (when the last word was an add)."""

    series: Series
    actor: str
    retract_at: int | None
    add_at: int | None
    #: retract from the group of this time's bucket instead (at ``retract_at``): a deleted comment's hour
    retract_from_at: int | None = None
    #: the one comment added (at ``add_at``) or withdrawn (from ``retract_from_at``'s hour) of a
    #: :data:`COMMENT_KINDS` series; None: the actor as a whole
    comment_id: str | None = None

    @property
    def repeats_standing(self) -> bool:
        """An add of a standing kind with no retraction before it: a no-op if the actor is a member already."""
        return self.add_at is not None and self.retract_at is None and self.series.kind in STANDING_KINDS


def without_superseded_retraction(change: MemberChange, stored_add_micros: int | None) -> MemberChange | None:
    """``change`` without a retraction older than the actor's stored add (``stored_add_micros``: its write time,
    None when none is stored); None when nothing is left of it. Why: a redelivered unlike from before the stored
    like, batched with a repeated like, made the like a new one (no longer a repeat), and a read notification
    went unread again at the repeat's time. (Its delete, older than the stored add, removed nothing anyway.)"""
    if change.retract_at is None or change.retract_from_at is not None or stored_add_micros is None \
            or stored_add_micros <= change.retract_at * 1000:
        return change
    if change.add_at is None:
        return None
    return dataclasses.replace(change, retract_at=None)


def without_retracted_add(change: MemberChange, retracted_at: int | None) -> MemberChange | None:
    """``change`` without an add older than the actor's stored retraction (``retracted_at``: the newest one
    applied, epoch ms; None when none is stored); None when nothing is left of it. Why: a like redriven (or
    re-sent) after the unlike that followed it notified again, since the unlike had found no row to delete. A
    retraction of the same millisecond stands before the add (it was applied first, in log order)."""
    if change.add_at is None or retracted_at is None or change.add_at >= retracted_at:
        return change
    if change.retract_at is None:
        return None
    return dataclasses.replace(change, add_at=None)


def fold(signals: Iterable[Signal]) -> list[MemberChange]:
    """Coalesce a batch: per (series, actor) the latest add wins if it is the last word (for a standing kind, the
    first add after the last retraction: the ones after it are repeats), and any retraction before it still
    removes the actor from where an earlier batch put them (same outcome as one at a time: a redelivered
    follow, unfollow, follow, follow re-stamped the follow with the repeat's time, unread again at the top).
    A retraction from a given hour (a deleted comment's, a block's) stands apart: it neither cancels an add of
    the batch nor is cancelled by one (each is a timestamped write to its own group's row, so their order is the
    times'); so does each comment's add (a cell of its own)."""
    latest: dict[tuple[Series, str], Signal] = {}
    retract: dict[tuple[Series, str], int] = {}
    apart: dict[MemberChange, None] = {}  # (a comment delivered twice in the batch: written once)
    for signal in sorted(signals, key=lambda s: s.at):  # stable: same-time events keep their log order
        if signal.from_at is not None:
            apart[MemberChange(signal.series, signal.actor, signal.at, None, signal.from_at, signal.comment_id)] = None
            continue
        if signal.comment_id is not None and signal.kind in COMMENT_KINDS:
            apart[MemberChange(signal.series, signal.actor, None, signal.at, None, signal.comment_id)] = None
            continue
        key = (signal.series, signal.actor)
        standing = latest.get(key)
        if (signal.present and signal.kind in STANDING_KINDS and standing is not None and standing.present):
            continue  # a member already (since the add after the last retraction): a repeat changes nothing
        latest[key] = signal
        if not signal.present:
            retract[key] = signal.at
    return [*(MemberChange(series, actor, retract.get((series, actor)), s.at if s.present else None)
              for (series, actor), s in latest.items()), *apart]


# --- what a group shows ---

@dataclass(frozen=True)
class Aggregate:
    """A notification as stored and shown: the latest actors (newest first), the exact count, the newest time."""

    group: Group
    actors: tuple[str, ...]
    actor_count: int
    updated_at: int


def aggregate(group: Group, members: Iterable[tuple[str, int]], shown: int) -> Aggregate | None:
    """The notification of ``group`` from its members ``(actor, at)``; None when no one is left."""
    ordered = sorted(members, key=lambda m: (m[1], m[0]), reverse=True)
    if not ordered:
        return None
    return Aggregate(group, tuple(a for a, _ in ordered[:shown]), len(ordered), ordered[0][1])


def is_read(updated_at: int, read_at: int) -> bool:
    """A notification is read when nothing joined it after the reader's mark (an update makes it unread)."""
    return updated_at <= read_at
