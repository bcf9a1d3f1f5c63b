"""People tags in photos: the pure rules (no I/O).

A post's author tags people on the post's photos at a relative position. Whom they may tag is the tagged
person's choice: nobody who stands in a block with the author (either way), only people who follow the author
when the tagged person allows tags "from people I follow" only, and a tag by someone the tagged person does not
follow waits for their approval when they approve tags manually. Those decisions are taken once, by the API,
when it accepts the tag (the event carries ``pending``), so replays never re-decide them against later state.

The stores apply changes as timestamped upserts and deletes (last writer wins by event time);
:func:`write_timestamp_us` orders the actions of one millisecond so that add < approve < remove.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from producers.ids import is_recurring_id

Action = Literal["add", "approve", "remove"]
#: tags one photo may carry (pending ones count: the author placed them)
MAX_TAGS_PER_PHOTO = 20
_ACTION_RANK: dict[str, int] = {"add": 0, "approve": 1, "remove": 2}


@dataclass(frozen=True)
class TagSettings:
    """Who may tag a user. The defaults are a user who never changed them: everyone, no approval."""

    followed_only: bool = False  # "allow tags from: people I follow"
    manual_approval: bool = False  # a tag by someone I do not follow waits for my approval


@dataclass(frozen=True)
class Refusal:
    """Why a tag is refused: an HTTP status, an error code, a message and the field it concerns."""

    status: int
    code: str
    message: str
    field: str | None = None


@dataclass(frozen=True)
class TagFacts:
    """Everything :func:`decide_tag` needs, read by the API in one concurrent round trip."""

    blocked: bool  # the author and the tagged person stand in a block, either way
    tagged_follows_author: bool
    settings: TagSettings
    already_tagged: bool  # the person already has a tag (pending or approved) on this photo
    tags_on_photo: int  # tags on the photo now, pending ones included


def decide_tag(facts: TagFacts) -> Refusal | bool:
    """A :class:`Refusal`, or whether the accepted tag is pending (waits for the tagged person's approval)."""
    if facts.blocked:  # as the profile is, either way: a 403 told the author they were blocked
        return Refusal(404, "not_found", "no such user", "user_id")
    if facts.settings.followed_only and not facts.tagged_follows_author:
        return Refusal(403, "forbidden", "this person allows tags only from people they follow", "user_id")
    if facts.already_tagged:
        return Refusal(409, "conflict", "this person is already tagged on this photo", "user_id")
    if facts.tags_on_photo >= MAX_TAGS_PER_PHOTO:
        return Refusal(422, "invalid", f"user_id: a photo carries at most {MAX_TAGS_PER_PHOTO} tags", "user_id")
    return facts.settings.manual_approval and not facts.tagged_follows_author


def may_remove(actor: str, author: str, tagged: str) -> bool:
    """The author removes anyone's tag from their post; a tagged person removes their own tag."""
    return actor in (author, tagged)


def silent_removal(change: TagChange) -> bool:
    """A tagged person removing themselves: nobody (the author included) is told."""
    return change.action == "remove" and change.tagger_id == change.tagged_id


@dataclass(frozen=True)
class TagChange:
    """One photo-tag-changed event, as the stores apply it."""

    post_id: str
    image_id: str
    tagger_id: str
    tagged_id: str
    action: Action
    x: float | None
    y: float | None
    pending: bool
    occurred_at: int  # ms


def tag_change(event: dict[str, Any]) -> TagChange:
    """The change an event describes; ``ValueError`` (→ DLQ) for one no client could have made."""
    if not all(is_recurring_id(event[f]) for f in ("post_id", "image_id", "tagger_id", "tagged_id")):
        raise ValueError("post_id/image_id/tagger_id/tagged_id: not ids")
    action = event["action"]
    if action not in _ACTION_RANK:
        raise ValueError(f"action: unknown {action!r}")
    if action == "add" and (event.get("x") is None or event.get("y") is None):
        raise ValueError("x/y: an add places the tag")
    return TagChange(event["post_id"], event["image_id"], event["tagger_id"], event["tagged_id"], action,
                     event.get("x"), event.get("y"), bool(event.get("pending")), int(event["occurred_at"]))


def write_timestamp_us(occurred_at_ms: int, action: str) -> int:
    """The cell timestamp of a change: the event time in microseconds, the action ranked within its
    millisecond (add < approve < remove), so an approval never loses a tie to its own add."""
    return occurred_at_ms * 1000 + _ACTION_RANK.get(action, 0)


@dataclass(frozen=True)
class PhotoTag:
    """A tag as stored on a post (:mod:`sinks.photo_tags`)."""

    post_id: str
    image_id: str
    tagged_id: str
    tagger_id: str
    x: float
    y: float
    pending: bool
    tagged_at: int = 0  # when it was added (epoch ms; 0: unknown)


def shown_to(tag: PhotoTag, viewer: str | None, author_id: str) -> bool:
    """Approved tags are shown with the post; a pending one only to the tagged person and the author."""
    return not tag.pending or viewer in (tag.tagged_id, author_id)

