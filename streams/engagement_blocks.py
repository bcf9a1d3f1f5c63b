"""Likes and comments across a block, or sent by a deleted account, are not applied, by any processor that
counts or lists them.

Why: a like or a comment sent while its target's author was blocking the sender was checked by the API before
the block existed, and published after it. The block's effects (unlikes, comment deletions) are derived from
what the stores hold when the safety processor reads them, so one applied a moment later stayed for good:
counted, and readable by everyone but the blocker, who could not see it to delete it. Each processor now asks
whether a block stands between the sender and the post's author before it applies either; what it applied just
before the block's row was written is what the block's own reading finds.

A deleted account's likes and comments published as its deletion was accepted (or by an upstream service after
it) were applied after the purge had read what to retract: a like by nobody, counted for good. Its unlikes and
comment deletions are still applied: the purge's own retractions are among them.
"""

from __future__ import annotations

from typing import Any

from sinks.revocations import closed_among
from sinks.safety import SafetyReader
from streams.engine.records import Record


def engagement_pair(topic: str, value: dict[str, Any]) -> tuple[str, str] | None:
    """(sender, post author) of a like or a new comment whose post's author the event names; None for anything
    else (an unlike or a deletion is always applied; an event without the author, from an older producer, is
    not checked)."""
    if topic == "like-changed" and value.get("action") != "like":
        return None
    if topic not in ("like-changed", "comment-added"):
        return None
    author = value.get("post_author_id")
    return (str(value["user_id"]), str(author)) if author and author != value["user_id"] else None


async def without_engagement_across_blocks(records: list[Record], safety: SafetyReader | None) -> list[Record]:
    """``records`` less the likes and comments whose sender and post author stand in a block (one read of the
    pairs' relations per batch, and none for a batch without likes or comments)."""
    pairs = {pair for r in records if (pair := engagement_pair(r.topic, r.value)) is not None}
    if safety is None or not pairs:
        return records
    # asked of the authors' relations (either side holds a block): a batch's likes and comments come from many
    # people onto few people's posts, so far fewer partitions are read (10,000 likers: 59% of the comments
    # processor's throughput; their 500 authors: see benchmark 13)
    blocked = {(sender, author) for author, sender in await safety.blocked_pairs((a, s) for s, a in pairs)}
    if not blocked:
        return records
    return [r for r in records if engagement_pair(r.topic, r.value) not in blocked]


def _added_by(record: Record) -> str | None:
    """The sender of a like or a new comment (None for anything else)."""
    if (record.topic == "like-changed" and record.value.get("action") == "like") or record.topic == "comment-added":
        return str(record.value["user_id"])
    return None


async def without_engagement_of_closed_accounts(records: list[Record], redis: Any, session: Any) -> list[Record]:
    """``records`` less the likes and new comments sent by an account whose deletion was accepted (one Redis
    round trip per batch with any: :func:`sinks.revocations.closed_among`)."""
    senders = {sender for r in records if (sender := _added_by(r)) is not None}
    if not senders:
        return records
    closed = await closed_among(redis, session, senders)
    if not closed:
        return records
    return [r for r in records if _added_by(r) not in closed]
