"""Typed constructors, one per event type: they validate before anything is published.

Each returns an :class:`Event` whose key comes from the topic catalog, so callers never pick keys (and so
never break the ordering the catalog promises). Schema validation runs in the constructor; domain rules
(caption length, hashtag and image limits, self-follows) are checked here too, so the SDK, the CLI and the
API refuse the same things.

This is the producer's hot path, so everything that depends only on the topic (field names, defaults, key
field, the generated encoder, the domain rule) is looked up once per topic in an :class:`EventType`, and an
event costs one dict, one encoder call and one rule call. The encoder is the schema check: it refuses wrong
types, missing fields and unknown enum symbols; only then does the slower field-by-field validator run, to
word the error.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from photostream.contracts.catalog import topic as catalog_topic
from photostream.contracts.codec import EncodeError, EventCodec, time_fields
from photostream.contracts.schema_store import SchemaVersion
from photostream.domain.accounts import AccountRuleError, check_bio, check_display_name, new_username
from photostream.domain.images import object_key as original_key
from photostream.domain.safety import MAX_REPORT_DETAILS_CHARS, REPORT_REASONS
from photostream.domain.tags import extract_hashtags, normalize_tag
from photostream.domain.text import shows_something, unwritten_control
from producers.ids import (
    MESSAGE_ID_SKEW_MS,
    is_id,
    is_recurring_id,
    message_id_time_ms,
    new_id,
    now_ms,
)
from producers.validation import EventValidationError, validate_record

MAX_CAPTION_CHARS = 2200
MAX_HASHTAGS = 30
MAX_IMAGES = 10
MAX_COMMENT_CHARS = 2200
MAX_LOCATION_NAME_CHARS = 200
#: the largest encoded event: librdkafka's ``message.max.bytes`` (1,000,000) less room for the key and headers
MAX_EVENT_BYTES = 990_000


class Event(NamedTuple):
    """A validated event ready to publish: topic, partition key, the record and its encoded bytes.

    A named tuple because it is immutable and the cheapest such record to build (half a frozen
    dataclass's cost), and one is built per published event."""

    topic: str
    key: str
    value: dict[str, Any]
    payload: bytes

    @property
    def event_id(self) -> str:
        return str(self.value["event_id"])


Rule = Callable[[dict[str, Any]], None]


class EventType:
    """One topic's schema, key field, encoder and domain rule, resolved once (see the module docstring)."""

    def __init__(self, topic: str, schema: SchemaVersion, codec: EventCodec) -> None:
        self.topic = topic
        self.schema = schema
        self.field_names = schema.field_names
        #: a field whose absence means "unchanged" to the processors (the catalog's) has no default here: filled
        #: with it, a ``photostream publish profile-updated`` line that left ``is_private`` out (a bio sync
        #: sending what it changes) made a private account public
        self.required_anyway = catalog_topic(topic).unchanged_unless_written & self.field_names
        self.defaults = {k: v for k, v in schema.defaults.items() if k not in self.required_anyway}
        self.key_field = catalog_topic(topic).key_field
        self.rule = RULES.get(topic, _no_rule)
        #: the fields that name a user, post, image or comment: each must be an id (a processor refuses
        #: anything else, so an event the SDK let through would be dead-lettered by some and applied by others)
        self.id_fields = tuple(sorted(f for f in self.field_names if f.endswith("_id")
                                      and (topic, f) not in _IDS_CHECKED_BY_RULE))
        self.id_list_fields = tuple(sorted(f for f in self.field_names if f.endswith("_ids")))
        #: every time the event carries (``occurred_at``, ``commented_at``, ``post_created_at``…): each must be
        #: one of this era, or the processors refuse the event (a producer's seconds were applied as 1970)
        self.time_fields = time_fields(schema)
        #: the ids that must be UUIDv7s made no later than their event (see :data:`_TIME_ORDERED_IDS`)
        self.time_ordered_ids = tuple(f for (t, f) in _TIME_ORDERED_IDS if t == topic)
        self._all_checks = Checks(self.id_fields, self.time_fields, self.time_ordered_ids)
        self._checks_after_minting: dict[tuple[bool, str | None], Checks] = {}
        self._checks_if_id_minted = self.checks_after_minting(True, None)
        self._checks_if_id_given = self.checks_after_minting(False, None)
        self._encode = codec.encoder(schema)

    def checks_after_minting(self, event_id: bool, field: str | None) -> Checks:
        """What :meth:`emit` checks of an event :meth:`create` completed: ``occurred_at`` is now, ``event_id``
        (if True) and ``field`` (if any) fresh UUIDv7s, which are ids of now, so checking them again cost the SDK
        ~1.9 µs of a new post's ~10 µs. (Kept: a constructor mints the same fields every time.)"""
        found = self._checks_after_minting.get((event_id, field))
        if found is None:
            minted = {"occurred_at", *(["event_id"] if event_id else []), *([field] if field else [])}
            found = self._checks_after_minting[event_id, field] = Checks(*(
                tuple(f for f in fields if f not in minted) for fields in self._all_checks))
        return found

    def build(self, fields: dict[str, Any]) -> Event:
        """Complete ``fields`` with ``event_id``/``occurred_at`` and defaults; refuse unknown fields (the
        encoder would silently drop them); then :meth:`emit`."""
        record = {**self.defaults, **fields}
        if "event_id" not in record:  # a caller with a deterministic id (the extractor) skips making one
            record["event_id"] = new_id()
        elif not is_id(record["event_id"]):
            raise EventValidationError("event_id", f"not a valid id: {record['event_id']!r:.60}")
        if "occurred_at" not in record:
            record["occurred_at"] = now_ms()
        if not record.keys() <= self.field_names:
            first = sorted(record.keys() - self.field_names)[0]
            raise EventValidationError(first, f"unknown field (allowed: {', '.join(sorted(self.field_names))})")
        missing = sorted(self.required_anyway - record.keys())
        if missing:
            raise EventValidationError(missing[0], "required: an event carries the whole profile, and a missing "
                                                   "setting would be read as its default, not as unchanged")
        return self.emit(record)

    def create(self, fields: dict[str, Any], event_id: str | None = None, mint: str | None = None) -> Event:
        """A new event from ``fields``: every schema field but ``event_id``/``occurred_at``, in a dict the
        caller hands over (it gets the two ids and becomes the event's value, so no copy is made).
        ``event_id``: one the caller chose (the same write sent again: ``api.idempotency``). ``mint``: a field
        the caller left ``None`` for a fresh UUIDv7 (a new post's or comment's own id)."""
        if event_id is None:
            fields["event_id"] = new_id()
            checks = self._checks_if_id_minted
        else:
            fields["event_id"] = event_id
            checks = self._checks_if_id_given
        fields["occurred_at"] = now_ms()
        if mint is not None and fields[mint] is None:
            fields[mint] = new_id()
            checks = self.checks_after_minting(event_id is None, mint)
        return self.emit(fields, checks)

    def emit(self, record: dict[str, Any], checks: Checks | None = None) -> Event:
        """Encode (the schema check), apply the domain rule, key by the catalog. ``record`` must hold only
        schema fields: the typed constructors guarantee it by their signatures, :meth:`build` checks it.
        ``checks``: the id, time and time-ordered id fields to check (default: all of them)."""
        id_fields, times, time_ordered = checks or self._all_checks
        try:
            payload = self._encode(record)
        except EncodeError as exc:
            validate_record(self.topic, record)  # raises, naming the field in the validator's words
            raise EventValidationError(exc.field, str(exc)) from None  # the encoder is stricter (e.g. tuples)
        except UnicodeEncodeError:  # valid JSON and a valid str, but no UTF-8 (a lone surrogate)
            raise EventValidationError(_unencodable(record), "text that is not valid Unicode") from None
        if len(payload) > MAX_EVENT_BYTES:  # the broker would refuse it, naming nothing (and a batch half-sent)
            raise EventValidationError(_largest(record), f"the event is {len(payload):,} bytes encoded; at most "
                                       f"{MAX_EVENT_BYTES:,}")
        self.check_ids(record, id_fields)
        for field in times:
            _plausible_time(field, record[field])
        for field in time_ordered:
            _time_ordered(self.topic, field, record[field], record["occurred_at"])
        self.rule(record)
        return _new_tuple(Event, (self.topic, record[self.key_field], record, payload))

    def check_ids(self, record: dict[str, Any], id_fields: tuple[str, ...] | None = None) -> None:
        """Every id field holds an id. The processors run this on every record they decode, not only the SDK:
        another producer's ``author_id: "bob"`` was applied by the posts view and dead-lettered by the
        notifications processor. (Only the ids: the topic's other rules grew over time, and a replay of
        history must not dead-letter what was valid when it was written.)"""
        for field in self.id_fields if id_fields is None else id_fields:
            value = record[field]
            if value is not None and not (is_id(value) if field == "event_id" else is_recurring_id(value)):
                raise EventValidationError(field, f"not a valid id: {value!r:.60}")
        for field in self.id_list_fields:
            for value in record[field]:
                if not is_recurring_id(value):
                    raise EventValidationError(field, f"not a valid id: {value!r:.60}")


class Checks(NamedTuple):
    """The fields :meth:`EventType.emit` checks beyond the schema: ids, times, time-ordered ids."""

    ids: tuple[str, ...]
    times: tuple[str, ...]
    time_ordered: tuple[str, ...]


#: builds an :class:`Event` without the named tuple's own ``__new__`` frame (~0.15 µs an event)
_new_tuple = tuple.__new__

#: ids whose text order must be their time order, so UUIDv7s (:func:`producers.ids.message_id_time_ms`) made no
#: later than their event: each is what a list is ordered by (the reason, for the refusal). A v4 id sat at a
#: random place in it, and one minted ahead above every later item.
_TIME_ORDERED_IDS = {
    ("post-created", "post_id"): "feeds and grids order posts by the time in their ids",
    ("comment-added", "comment_id"): "comments are listed in id order",
    ("ON_MSG_UNSENT", "msg_id"): "a badge orders a sender's messages by their ids",
    ("MESSAGES_READ", "read_up_to_msg_id"): "a badge orders a sender's messages by their ids",
}

#: id fields not in :attr:`EventType.id_fields`: message ids (time-ordered: checked as UUIDv7s), and a mute's
#: target (a user id, or a hashtag: its rule checks it). A post's and a comment's own ids stay in it: the
#: processors check every record's ``id_fields`` (:meth:`EventType.check_ids`), not the time order.
_IDS_CHECKED_BY_RULE = {("ON_MSG_UNSENT", "msg_id"), ("MESSAGES_READ", "read_up_to_msg_id"),
                        ("mute-changed", "target_id")}


def _time_ordered(topic: str, field: str, value: Any, occurred_at: int) -> None:
    """``value`` is a UUIDv7 made no more than :data:`producers.ids.MESSAGE_ID_SKEW_MS` after its event."""
    made = message_id_time_ms(value)
    if made is None:
        raise EventValidationError(field, f"must be a UUIDv7 ({_TIME_ORDERED_IDS[topic, field]}): {value!r:.60}")
    if made > occurred_at + MESSAGE_ID_SKEW_MS:
        raise EventValidationError(field, f"made more than {MESSAGE_ID_SKEW_MS // 1000} s after its event "
                                          f"({_TIME_ORDERED_IDS[topic, field]}): {value!r:.60}")


#: how far ahead of this clock an event's time may be (another host's clock, a little fast)
MAX_CLOCK_AHEAD_MS = 24 * 3600 * 1000


def _plausible_time(field: str, at: Any) -> None:
    """An epoch-milliseconds time of this era: not negative, not ahead of now by more than a day. A producer's
    seconds or microseconds (the common mix-up), or a time in 2100, were applied: a like timed in the future
    could never be undone, and a time past year 9999 broke every read of its row."""
    if isinstance(at, bool) or not isinstance(at, int):
        return  # (the encoder names a wrong type)
    if at < 0 or at > now_ms() + MAX_CLOCK_AHEAD_MS:
        raise EventValidationError(field, f"{at} is not a time in epoch milliseconds of now or the past (at most a "
                                          "day ahead of this clock)")


def _unencodable(record: dict[str, Any]) -> str:
    """The first field whose text has no UTF-8 form (a lone surrogate), nested ones included, for the refusal."""
    for field, value in record.items():
        texts = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
        for text in texts:
            if isinstance(text, str):
                try:
                    text.encode()
                except UnicodeEncodeError:
                    return field
    return "event"


def _largest(record: dict[str, Any]) -> str:
    """The field that makes an event too large (its longest value as text)."""
    return max(record, key=lambda field: len(str(record[field])))


_codec: EventCodec | None = None
_types: dict[str, EventType] = {}


def event_type(topic: str) -> EventType:
    """The topic's :class:`EventType` (built on first use from the schema store; unknown topics raise)."""
    found = _types.get(topic)
    if found is None:
        global _codec
        if _codec is None:
            _codec = EventCodec()
        found = _types[topic] = EventType(topic, _codec.store.current(topic), _codec)
    return found


def build(topic: str, fields: dict[str, Any]) -> Event:
    """An event of ``topic`` from loose ``fields`` (the CLI's JSON lines, the extractor): defaults and ids
    filled in, unknown fields refused, then validated like the typed constructors' events."""
    return event_type(topic).build(fields)


def _no_rule(_: dict[str, Any]) -> None:
    return None


def _post_created(record: dict[str, Any]) -> None:
    caption = record["caption"]
    if len(caption) > MAX_CAPTION_CHARS:
        raise EventValidationError("caption", f"at most {MAX_CAPTION_CHARS} characters ({len(caption)} given)")
    _written("caption", caption)
    # Every hashtag starts at a '#' of the NFKC-normalised caption, so a caption with few of them cannot
    # have too many tags; only the others pay for the extraction.
    if (unicodedata.normalize("NFKC", caption).count("#") > MAX_HASHTAGS
            and len(extract_hashtags(caption)) > MAX_HASHTAGS):
        raise EventValidationError("caption", f"at most {MAX_HASHTAGS} distinct hashtags")
    images = record["image_ids"]  # (each an id: checked for every ``*_ids`` field)
    if not 1 <= len(images) <= MAX_IMAGES:
        raise EventValidationError("image_ids", f"between 1 and {MAX_IMAGES} images ({len(images)} given)")
    if len(set(images)) != len(images):  # (as the API refuses it: one photo shown twice in a carousel)
        raise EventValidationError("image_ids", "each photo at most once")
    _location(record["location"])


def _post_hashtag(record: dict[str, Any]) -> None:
    if not _is_normalised_tag(record["hashtag"]):
        raise EventValidationError("hashtag", f"not a normalised hashtag: {record['hashtag']!r:.120}")
    if record["action"] == "add" and record.get("cause", "post") == "post":
        _post_tags(record["post_tags"], record["hashtag"])


def _post_tags(tags: list[str], hashtag: str) -> None:
    """The post's whole tag set, as the extractor writes it from a new caption. The counter adds one to every
    other tag's related score per entry, so an entry twice counted the pair twice, and an entry not normalised
    made a related tag that no page has. (Only a new post's adds: a retraction, or an audience change, carries
    the tags remembered when the post was counted, which older rules may have made; refused, they left the post
    counted on its other tags.)"""
    if len(tags) > MAX_HASHTAGS:
        raise EventValidationError("post_tags", f"at most {MAX_HASHTAGS} hashtags (a post's whole set)")
    if len(set(tags)) != len(tags):
        raise EventValidationError("post_tags", "each hashtag at most once")
    for tag in tags:
        if not _is_normalised_tag(tag):
            raise EventValidationError("post_tags", f"not a normalised hashtag: {tag!r:.120}")
    if hashtag not in tags:
        raise EventValidationError("post_tags", f"the post's tags must include the event's hashtag {hashtag!r}")


@functools.lru_cache(maxsize=8192)
def _is_normalised_tag(tag: str) -> bool:
    """Cached: a few popular tags make most post-hashtag events, and normalising costs several µs."""
    return normalize_tag(tag) == tag


def _comment_added(record: dict[str, Any]) -> None:
    text = record["text"]
    if not 1 <= len(text) <= MAX_COMMENT_CHARS:  # (the whole text: spaces count too)
        raise EventValidationError("text", f"between 1 and {MAX_COMMENT_CHARS} characters")
    _written("text", record["text"])
    if not text.strip() or not shows_something(record["text"]):
        raise EventValidationError("text", "nothing visible (only spaces or invisible characters)")


def _written(field: str, text: str) -> None:
    """Text a person wrote: no control character but line breaks and tabs (:mod:`photostream.domain.text`)."""
    found = unwritten_control(text)
    if found is not None:
        raise EventValidationError(field, f"control character U+{ord(found):04X} is not allowed (line breaks and "
                                          "tabs are)")


def _not_self_follow(record: dict[str, Any]) -> None:
    if record["follower_id"] == record["followee_id"]:
        raise EventValidationError("followee_id", "a user cannot follow themselves")


def _message(user_field: str, sender_field: str) -> Rule:
    """The unread processor's rules (:mod:`photostream.domain.unread`), checked before sending: ids that are
    ids, nobody's messages to themself (the message id is time-ordered: :data:`_TIME_ORDERED_IDS`)."""
    def check(record: dict[str, Any]) -> None:
        _require_ids(record, sender_field, user_field)
        if record[user_field] == record[sender_field]:
            raise EventValidationError(user_field, "a user has no unread messages from themself")
    return check


def _not_self_target(record: dict[str, Any]) -> None:
    if record["actor_id"] == record["target_id"]:
        raise EventValidationError("target_id", "a user cannot target themselves")


def _mute_target(record: dict[str, Any]) -> None:
    """A user mute names another user; a hashtag mute names a normalised tag."""
    if record.get("target_kind") == "hashtag":
        if not _is_normalised_tag(record["target_id"]):
            raise EventValidationError("target_id", f"not a normalised hashtag: {record['target_id']!r:.120}")
    else:
        _require_id("target_id", record["target_id"])
        _not_self_target(record)


def _photo_tag(record: dict[str, Any]) -> None:
    """An add places the tag on the photo (x, y relative, 0..1); nobody tags themselves."""
    if record["action"] == "add":
        if record["tagger_id"] == record["tagged_id"]:
            raise EventValidationError("tagged_id", "the author cannot tag themselves")
        for axis in ("x", "y"):
            value = record.get(axis)
            if value is None or not 0.0 <= value <= 1.0:
                raise EventValidationError(axis, "a relative position between 0 and 1")


def _profile(record: dict[str, Any]) -> None:
    """A new profile as the API would accept it: the canonical spelling of a valid username (an upstream
    service's "BOB" or "" was served as it came, and a name the API refuses could be claimed twice), a one-line
    display name, a bio of at most 500 characters (:mod:`photostream.domain.accounts`, the API's own rules).
    Not applied to ``profile-updated``: an edit carries the fields it does not change as they are stored, and a
    profile registered before these rules could then not be edited at all, not even to turn private (the API
    checks what a user edits itself)."""
    try:
        if new_username(record["username"]) != record["username"]:
            raise AccountRuleError("username", "not in its canonical (lower-case, trimmed) spelling")
        check_display_name(record["display_name"])
        if record["bio"] is not None:
            check_bio(record["bio"])
    except AccountRuleError as exc:
        raise EventValidationError(exc.field, str(exc)) from None


def _report(record: dict[str, Any]) -> None:
    """One reason of the fixed list, and details as long as the API takes (moderation groups by reason)."""
    if record["reason"] not in REPORT_REASONS:
        raise EventValidationError("reason", f"one of {', '.join(REPORT_REASONS)}")
    if record["details"] is not None:
        if len(record["details"]) > MAX_REPORT_DETAILS_CHARS:
            raise EventValidationError("details", f"at most {MAX_REPORT_DETAILS_CHARS} characters")
        _written("details", record["details"])


def _location(location: dict[str, Any] | None) -> None:
    """A place as the API takes it: a name, and a latitude and longitude on the globe when given."""
    if location is None:
        return
    unknown = sorted(set(location) - {"name", "lat", "lon"})
    if unknown:  # (the encoder writes the schema's fields and would drop these silently)
        raise EventValidationError("location", f"unknown field {unknown[0]!r} (allowed: lat, lon, name)")
    name = location["name"]
    if not 1 <= len(name) <= MAX_LOCATION_NAME_CHARS or not shows_something(name):
        raise EventValidationError("location", f"a name of 1 to {MAX_LOCATION_NAME_CHARS} characters, something "
                                               "visible among them")
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name):  # one line, as a place is shown
        raise EventValidationError("location", "control characters and line breaks are not allowed in a name")
    for axis, bound in (("lat", 90.0), ("lon", 180.0)):
        value = location.get(axis)
        if value is not None and not -bound <= value <= bound:  # (NaN fails every comparison: refused too)
            raise EventValidationError("location", f"{axis} between {-bound:g} and {bound:g}")


def _photo_uploaded(record: dict[str, Any]) -> None:
    """The original's key is the uploader's key for the image (the photos processor refuses any other), and
    its size is a size."""
    if record["object_key"] != original_key(record["user_id"], record["image_id"]):
        raise EventValidationError("object_key", "must be photos/{user_id}/{image_id}")
    if record["size_bytes"] < 0:
        raise EventValidationError("size_bytes", "not a size")


RULES: dict[str, Rule] = {
    "post-created": _post_created,
    "post-hashtag": _post_hashtag,
    "comment-added": _comment_added,
    "ON_MSG_UNSENT": _message("dest", "src"),
    "MESSAGES_READ": _message("user_id", "sender_id"),
    "follow-changed": _not_self_follow,
    "follow-requested": _not_self_follow,
    "block-changed": _not_self_target,
    "mute-changed": _mute_target,
    "photo-tag-changed": _photo_tag,
    "user-registered": _profile,
    "content-reported": _report,
    "photo-uploaded": _photo_uploaded,
}


def _require_id(field: str, value: str) -> None:
    if not is_recurring_id(value):
        raise EventValidationError(field, f"not a valid id: {value!r:.60}")


def _require_ids(record: dict[str, Any], *fields: str) -> None:
    for field in fields:
        _require_id(field, record[field])


# --- one constructor per event type ---------------------------------------------------------------------
def post_created(
    *, author_id: str, caption: str, image_ids: list[str], post_id: str | None = None,
    visibility: Literal["public", "followers", "private"] = "public", location: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> Event:
    return event_type("post-created").create({
        "post_id": post_id, "author_id": author_id, "caption": caption, "image_ids": image_ids,
        "visibility": visibility, "location": location,
    }, event_id, mint="post_id")


def post_deleted(*, post_id: str, author_id: str) -> Event:
    return event_type("post-deleted").create({"post_id": post_id, "author_id": author_id})


def post_hashtag(
    *, event_id: str, post_id: str, author_id: str, hashtag: str, action: Literal["add", "retract"],
    post_created_at: int, occurred_at: int, post_tags: list[str], cause: Literal["post", "audience"] = "post",
    as_of: int = 0,
) -> Event:
    """A tag membership change: the post created or deleted (``cause="post"``), or its author's account turned
    private or public again (``cause="audience"``, ``as_of`` = that profile change's time)."""
    return event_type("post-hashtag").emit({
        "event_id": event_id, "occurred_at": occurred_at, "post_id": post_id, "author_id": author_id,
        "hashtag": hashtag, "action": action, "post_created_at": post_created_at, "post_tags": post_tags,
        "cause": cause, "as_of": as_of,
    })


def follow_changed(*, follower_id: str, followee_id: str, action: Literal["follow", "unfollow"]) -> Event:
    return event_type("follow-changed").create({"follower_id": follower_id, "followee_id": followee_id,
                                                "action": action})


def like_changed(*, post_id: str, user_id: str, action: Literal["like", "unlike"],
                 post_author_id: str | None = None) -> Event:
    """``post_author_id``: the post's author, if the producer knows it (the API does): consumers then address the
    author at once, without waiting for the posts view."""
    return event_type("like-changed").create({"post_id": post_id, "user_id": user_id, "action": action,
                                              "post_author_id": post_author_id})


def comment_added(*, post_id: str, user_id: str, text: str, comment_id: str | None = None,
                  post_author_id: str | None = None, event_id: str | None = None) -> Event:
    """``post_author_id``: as for :func:`like_changed`."""
    return event_type("comment-added").create({
        "comment_id": comment_id, "post_id": post_id, "user_id": user_id, "text": text,
        "post_author_id": post_author_id,
    }, event_id, mint="comment_id")


def comment_deleted(*, post_id: str, comment_id: str, user_id: str, actor_id: str, commented_at: int) -> Event:
    """``actor_id`` deletes ``user_id``'s comment written at ``commented_at`` (the API has checked who may: the
    comment's or the post's author)."""
    return event_type("comment-deleted").create({
        "comment_id": comment_id, "post_id": post_id, "user_id": user_id, "actor_id": actor_id,
        "commented_at": commented_at,
    })


def message_unsent(*, src: str, dest: str, msg_id: str) -> Event:
    return event_type("ON_MSG_UNSENT").create({"src": src, "dest": dest, "msg_id": msg_id})


def messages_read(*, user_id: str, sender_id: str, read_up_to_msg_id: str) -> Event:
    return event_type("MESSAGES_READ").create({"user_id": user_id, "sender_id": sender_id,
                                               "read_up_to_msg_id": read_up_to_msg_id})


def presence_changed(*, user_id: str, status: Literal["online", "offline"]) -> Event:
    return event_type("presence-changed").create({"user_id": user_id, "status": status})


def photo_uploaded(*, image_id: str, user_id: str, content_type: str, size_bytes: int,
                   object_key: str | None = None) -> Event:
    """``object_key`` is the uploader's key for the image (``photos/{user_id}/{image_id}``) unless given."""
    return event_type("photo-uploaded").create({
        "image_id": image_id, "user_id": user_id, "object_key": object_key or original_key(user_id, image_id),
        "content_type": content_type, "size_bytes": size_bytes})


def user_registered(
    *, user_id: str, username: str, display_name: str, bio: str | None = None, avatar_image_id: str | None = None,
) -> Event:
    return event_type("user-registered").create({"user_id": user_id, "username": username,
                                                 "display_name": display_name, "bio": bio,
                                                 "avatar_image_id": avatar_image_id})


def profile_updated(
    *, user_id: str, username: str, display_name: str, is_private: bool, tags_followed_only: bool,
    tags_manual_approval: bool, bio: str | None = None, avatar_image_id: str | None = None,
) -> Event:
    """The whole new profile; the two ``tags_`` settings say who may tag the user in photos (v3). The privacy
    and the tag settings have no default: the event replaces the profile whole, and an upstream bio edit that
    left ``is_private`` out made a private account public."""
    return event_type("profile-updated").create({"user_id": user_id, "username": username,
                                                 "display_name": display_name, "bio": bio,
                                                 "avatar_image_id": avatar_image_id, "is_private": is_private,
                                                 "tags_followed_only": tags_followed_only,
                                                 "tags_manual_approval": tags_manual_approval})


def follow_requested(
    *, follower_id: str, followee_id: str, action: Literal["request", "approve", "deny"],
) -> Event:
    return event_type("follow-requested").create({"follower_id": follower_id, "followee_id": followee_id,
                                                  "action": action})


def block_changed(*, actor_id: str, target_id: str, action: Literal["on", "off"]) -> Event:
    return event_type("block-changed").create({"actor_id": actor_id, "target_id": target_id, "action": action})


def mute_changed(*, actor_id: str, target_id: str, action: Literal["on", "off"],
                 target_kind: Literal["user", "hashtag"] = "user") -> Event:
    """A mute of a user (``target_id`` a user id) or of a hashtag (``target_id`` the normalised tag)."""
    return event_type("mute-changed").create({"actor_id": actor_id, "target_id": target_id, "action": action,
                                              "target_kind": target_kind})


def content_reported(
    *, reporter_id: str, target_kind: Literal["user", "post", "comment"], target_id: str, reason: str,
    details: str | None = None,
) -> Event:
    return event_type("content-reported").create({"reporter_id": reporter_id, "target_kind": target_kind,
                                                  "target_id": target_id, "reason": reason, "details": details})


def account_deleted(*, user_id: str) -> Event:
    return event_type("account-deleted").create({"user_id": user_id})


def photo_tag_changed(
    *, post_id: str, image_id: str, tagger_id: str, tagged_id: str, action: Literal["add", "approve", "remove"],
    x: float | None = None, y: float | None = None, pending: bool = False,
) -> Event:
    """A people tag on one photo of a post: added by the author (``pending`` when the tagged person approves
    tags first), approved by the tagged person, or removed by either."""
    return event_type("photo-tag-changed").create({
        "post_id": post_id, "image_id": image_id, "tagger_id": tagger_id, "tagged_id": tagged_id,
        "action": action, "x": x, "y": y, "pending": pending})
