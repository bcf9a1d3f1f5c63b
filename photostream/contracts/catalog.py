"""The topic catalog: for every topic its schema, key field, partitions, retention and DLQ.

This module is the single owner of topic settings. ``photostream stack up`` creates every topic and its
``.dlq`` from it (idempotently), producers key records by it, and processors read partition counts from it.
Keys are chosen so that events which must be applied in order share a partition; each entry says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FOREVER = "-1"
WEEK_MS = str(7 * 24 * 3600 * 1000)
DLQ_SUFFIX = ".dlq"


@dataclass(frozen=True)
class TopicSpec:
    """How one topic is laid out and keyed."""

    name: str
    key_field: str
    partitions: int
    why_key: str
    config: dict[str, str] = field(default_factory=dict)
    #: fields that a record written before they existed does not change: decoded as None, not as their
    #: default (a bio edit from a service still on profile-updated v1 read ``is_private`` as false, and made a
    #: private account public)
    unchanged_unless_written: frozenset[str] = frozenset()

    @property
    def dlq(self) -> str:
        return self.name + DLQ_SUFFIX

    @property
    def compacted(self) -> bool:
        """A latest-state topic: a null record (a tombstone) there is a deletion, which every reader skips, not
        poison (an account purge writes one per compacted topic keyed by the account: compaction then drops
        what the account published there from the log)."""
        return self.config.get("cleanup.policy") == "compact"


#: Every event topic's records are stamped by the broker when appended, not by the producer's clock: an event
#: cannot have happened after the log got it, so consumers cap ``occurred_at`` there
#: (:func:`streams.engine.records.cap_at_the_log`), and a producer whose clock runs ahead cannot make its
#: change outrank a later one (a like stamped ten minutes ahead made every unlike until then a no-op).
_STAMPED = {"message.timestamp.type": "LogAppendTime"}
#: A source of truth that analysts replay and views are rebuilt from is kept forever.
_KEEP = {"retention.ms": FOREVER, "cleanup.policy": "delete", **_STAMPED}
#: Latest-state topics: compaction keeps the newest record per key forever.
_COMPACT = {"cleanup.policy": "compact", "min.compaction.lag.ms": "3600000", **_STAMPED}
#: Transient notifications.
_WEEK = {"retention.ms": WEEK_MS, "cleanup.policy": "delete", **_STAMPED}
#: the largest record a DLQ takes: 4 MiB, so any record the broker's default limit (1 MiB) let into a topic
#: fits with the DLQ's headers (a source record near that limit could not be parked, and the loop that met it
#: crashed on it, again after every restart)
DLQ_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
#: Dead letters are kept for a month for inspection and manual replay.
DLQ_RETENTION_MS = 30 * 24 * 3600 * 1000
#: the broker's ``offsets.retention.minutes``: a group's committed offsets outlive every DLQ record. ``dlq
#: redrive`` keeps its place in a DLQ as the committed offsets of a group with no members, which Kafka's default
#: (7 days) deleted: a redrive a quiet week later sent every record again, and parked twice those that failed
OFFSETS_RETENTION_MINUTES = DLQ_RETENTION_MS // 60_000 + 24 * 60
DLQ_CONFIG = {"retention.ms": str(DLQ_RETENTION_MS), "cleanup.policy": "delete",
              "max.message.bytes": str(DLQ_MAX_MESSAGE_BYTES)}
DLQ_PARTITIONS = 1

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("post-created", "author_id", 4,
              "per author: an author's posts and deletions stay in order for their profile grid", _KEEP),
    TopicSpec("post-deleted", "author_id", 4,
              "same key as post-created (per author). Two topics are not ordered against each other, so "
              "consumers tolerate a delete seen before its create (tombstones)", _KEEP),
    TopicSpec("post-hashtag", "hashtag", 4,
              "per tag: all of a tag's adds and retracts land on one partition, so its counts aggregate "
              "locally without a repartition", _KEEP),
    TopicSpec("follow-changed", "followee_id", 4,
              "per followee: follow/unfollow of one pair stay ordered, and follower counts (hot for "
              "celebrities) aggregate on one partition", _KEEP),
    TopicSpec("like-changed", "post_id", 4,
              "per post: like/unlike of one post stay ordered and its like count aggregates locally", _KEEP),
    TopicSpec("comment-added", "post_id", 4, "per post: comment order and counts are per post", _KEEP),
    TopicSpec("comment-deleted", "post_id", 4,
              "same key and partition count as comment-added (per post): one loop owns a post's comments and "
              "counts; a delete seen before its add wins anyway (the delete is final)", _KEEP),
    TopicSpec("ON_MSG_UNSENT", "dest", 4,
              "per recipient: with MESSAGES_READ keyed by the reader (the same user) on the same partition "
              "count, one user's badge events are totally ordered", _WEEK),
    TopicSpec("MESSAGES_READ", "user_id", 4, "per reader: see ON_MSG_UNSENT", _WEEK),
    TopicSpec("presence-changed", "user_id", 4, "per user: only the latest presence matters", _COMPACT),
    TopicSpec("photo-uploaded", "user_id", 4, "per uploader", _KEEP),
    TopicSpec("user-registered", "user_id", 4, "per user: registration precedes profile updates", _KEEP),
    TopicSpec("profile-updated", "user_id", 4,
              "per user: carries the full profile, so compaction keeps exactly the latest", _COMPACT,
              frozenset({"is_private", "tags_followed_only", "tags_manual_approval"})),
    TopicSpec("follow-requested", "followee_id", 4, "per followee: request/approve/deny stay ordered", _KEEP),
    TopicSpec("block-changed", "actor_id", 4, "per actor: on/off toggles of one actor stay ordered", _KEEP),
    TopicSpec("mute-changed", "actor_id", 4, "per actor: on/off toggles of one actor stay ordered", _KEEP),
    TopicSpec("content-reported", "target_id", 4, "per target: moderation sees all reports of a target together",
              _KEEP),
    TopicSpec("account-deleted", "user_id", 4, "per user", _KEEP),
    TopicSpec("photo-tag-changed", "post_id", 4,
              "per post: one photo's tag adds, approvals and removals stay ordered, and a post's tags are "
              "applied by the partition that owns the post's likes and comments", _KEEP),
)

_BY_NAME = {spec.name: spec for spec in TOPICS}


class UnknownTopicError(LookupError):
    """The topic is not in the catalog."""


#: the logical names of the compacted topics
_COMPACTED_NAMES = frozenset(spec.name for spec in TOPICS if spec.compacted)


def is_tombstone(topic_name: str, value: bytes | None) -> bool:
    """A deletion marker on a compacted topic (see :attr:`TopicSpec.compacted`); ``topic_name``: logical."""
    return value is None and topic_name in _COMPACTED_NAMES


def topic(name: str) -> TopicSpec:
    """The catalog entry of ``name`` (a DLQ name resolves to its source topic)."""
    try:
        return _BY_NAME[name.removesuffix(DLQ_SUFFIX)]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        raise UnknownTopicError(f"unknown topic {name!r}; known topics: {known}") from None


def all_topic_names(include_dlq: bool = True) -> list[str]:
    names = [spec.name for spec in TOPICS]
    return names + [spec.dlq for spec in TOPICS] if include_dlq else names
