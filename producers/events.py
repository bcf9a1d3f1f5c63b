"""Typed constructors, one per event type: they validate before anything is published.

Each returns an :class:`Event` whose key comes from the topic catalog, so callers never pick keys (and so
never break the ordering the catalog promises). Schema validation runs in the constructor; domain rules
(caption length, hashtag and image limits, self-follows) are checked here too, so the SDK, the CLI and the
API refuse the same things.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from photostream.contracts.catalog import topic as catalog_topic
from photostream.contracts.codec import EventCodec
from photostream.domain.tags import extract_hashtags, normalize_tag
from producers.ids import is_id, new_id, now_ms
from producers.validation import EventValidationError, validate_record

MAX_CAPTION_CHARS = 2200
MAX_HASHTAGS = 30
MAX_IMAGES = 10
MAX_COMMENT_CHARS = 2200


@dataclass(frozen=True)
class Event:
    """A validated event ready to publish: topic, partition key, the record and its encoded bytes."""

    topic: str
    key: str
    value: dict[str, Any]
    payload: bytes

    @property
    def event_id(self) -> str:
        return str(self.value["event_id"])


_codec: EventCodec | None = None


def _shared_codec() -> EventCodec:
    global _codec
    if _codec is None:
        _codec = EventCodec()
    return _codec


def build(topic: str, fields: dict[str, Any]) -> Event:
    """Complete ``fields`` with ``event_id``/``occurred_at`` and defaults, validate, encode, key by the catalog.

    Validation and encoding are one pass: the Avro writer refuses wrong types and missing fields, and only
    then does the slower field-by-field check run, to name the culprit. Unknown fields (which the writer
    would silently drop) are refused up front.
    """
    codec = _shared_codec()
    schema = codec.store.current(topic)
    record = {**schema.defaults, "event_id": new_id(), "occurred_at": now_ms(), **fields}
    unknown = record.keys() - schema.field_names
    if unknown:
        first = sorted(unknown)[0]
        raise EventValidationError(first, f"unknown field (allowed: {', '.join(sorted(schema.field_names))})")
    check_domain_rules(topic, record)
    try:
        payload = codec.encode(topic, record, schema)
    except Exception as exc:
        validate_record(topic, record)  # raises naming the field
        raise EventValidationError(None, f"not encodable: {exc}") from None
    return Event(topic, str(record[catalog_topic(topic).key_field]), record, payload)


def check_domain_rules(topic: str, record: dict[str, Any]) -> None:
    """Rules a schema cannot express; raise :class:`EventValidationError` naming the field."""
    if topic == "post-created":
        caption = record.get("caption")
        if not isinstance(caption, str) or not isinstance(record.get("image_ids"), list):
            return  # the schema check names the field
        if len(caption) > MAX_CAPTION_CHARS:
            raise EventValidationError("caption", f"at most {MAX_CAPTION_CHARS} characters ({len(caption)} given)")
        if len(extract_hashtags(caption)) > MAX_HASHTAGS:
            raise EventValidationError("caption", f"at most {MAX_HASHTAGS} distinct hashtags")
        images = record["image_ids"]
        if not 1 <= len(images) <= MAX_IMAGES:
            raise EventValidationError("image_ids", f"between 1 and {MAX_IMAGES} images ({len(images)} given)")
        for image_id in images:
            _require_id("image_ids", image_id)
    if topic == "post-hashtag" and normalize_tag(str(record.get("hashtag"))) != record.get("hashtag"):
        raise EventValidationError("hashtag", f"not a normalised hashtag: {record['hashtag']!r:.120}")
    if topic == "comment-added" and not 1 <= len(str(record.get("text", "x")).strip()) <= MAX_COMMENT_CHARS:
        raise EventValidationError("text", f"between 1 and {MAX_COMMENT_CHARS} characters")
    if topic in ("follow-changed", "follow-requested") and record.get("follower_id") == record.get("followee_id"):
        raise EventValidationError("followee_id", "a user cannot follow themselves")
    if topic in ("block-changed", "mute-changed") and record.get("actor_id") == record.get("target_id"):
        raise EventValidationError("target_id", "a user cannot target themselves")


def _require_id(field: str, value: str) -> None:
    if not is_id(value):
        raise EventValidationError(field, f"not a valid id: {value!r:.60}")


# --- one constructor per event type ---------------------------------------------------------------------
def post_created(
    *, author_id: str, caption: str, image_ids: list[str], post_id: str | None = None,
    visibility: Literal["public", "followers", "private"] = "public", location: dict[str, Any] | None = None,
) -> Event:
    return build("post-created", {
        "post_id": post_id or new_id(), "author_id": author_id, "caption": caption,
        "image_ids": image_ids, "visibility": visibility, "location": location,
    })


def post_deleted(*, post_id: str, author_id: str) -> Event:
    return build("post-deleted", {"post_id": post_id, "author_id": author_id})


def post_hashtag(
    *, event_id: str, post_id: str, author_id: str, hashtag: str, action: Literal["add", "retract"],
    post_created_at: int, occurred_at: int, post_tags: list[str],
) -> Event:
    return build("post-hashtag", {
        "event_id": event_id, "occurred_at": occurred_at, "post_id": post_id, "author_id": author_id,
        "hashtag": hashtag, "action": action, "post_created_at": post_created_at, "post_tags": post_tags,
    })


def follow_changed(*, follower_id: str, followee_id: str, action: Literal["follow", "unfollow"]) -> Event:
    return build("follow-changed", {"follower_id": follower_id, "followee_id": followee_id, "action": action})


def like_changed(*, post_id: str, user_id: str, action: Literal["like", "unlike"]) -> Event:
    return build("like-changed", {"post_id": post_id, "user_id": user_id, "action": action})


def comment_added(*, post_id: str, user_id: str, text: str, comment_id: str | None = None) -> Event:
    return build("comment-added", {
        "comment_id": comment_id or new_id(), "post_id": post_id, "user_id": user_id, "text": text,
    })


def message_unsent(*, src: str, dest: str, msg_id: str) -> Event:
    return build("ON_MSG_UNSENT", {"src": src, "dest": dest, "msg_id": msg_id})


def messages_read(*, user_id: str, sender_id: str, read_up_to_msg_id: str) -> Event:
    return build("MESSAGES_READ", {"user_id": user_id, "sender_id": sender_id,
                                   "read_up_to_msg_id": read_up_to_msg_id})


def presence_changed(*, user_id: str, status: Literal["online", "offline"]) -> Event:
    return build("presence-changed", {"user_id": user_id, "status": status})


def photo_uploaded(*, image_id: str, user_id: str, object_key: str, content_type: str, size_bytes: int) -> Event:
    return build("photo-uploaded", {"image_id": image_id, "user_id": user_id, "object_key": object_key,
                                    "content_type": content_type, "size_bytes": size_bytes})


def user_registered(
    *, user_id: str, username: str, display_name: str, bio: str | None = None, avatar_image_id: str | None = None,
) -> Event:
    return build("user-registered", {"user_id": user_id, "username": username, "display_name": display_name,
                                     "bio": bio, "avatar_image_id": avatar_image_id})


def profile_updated(
    *, user_id: str, username: str, display_name: str, bio: str | None = None, avatar_image_id: str | None = None,
) -> Event:
    return build("profile-updated", {"user_id": user_id, "username": username, "display_name": display_name,
                                     "bio": bio, "avatar_image_id": avatar_image_id})


def follow_requested(
    *, follower_id: str, followee_id: str, action: Literal["request", "approve", "deny"],
) -> Event:
    return build("follow-requested", {"follower_id": follower_id, "followee_id": followee_id, "action": action})


def block_changed(*, actor_id: str, target_id: str, action: Literal["on", "off"]) -> Event:
    return build("block-changed", {"actor_id": actor_id, "target_id": target_id, "action": action})


def mute_changed(*, actor_id: str, target_id: str, action: Literal["on", "off"]) -> Event:
    return build("mute-changed", {"actor_id": actor_id, "target_id": target_id, "action": action})


def content_reported(
    *, reporter_id: str, target_kind: Literal["user", "post", "comment"], target_id: str, reason: str,
) -> Event:
    return build("content-reported", {"reporter_id": reporter_id, "target_kind": target_kind,
                                      "target_id": target_id, "reason": reason})


def account_deleted(*, user_id: str) -> Event:
    return build("account-deleted", {"user_id": user_id})
