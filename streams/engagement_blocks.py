"""Likes, comments and people tags across a block, and likes and comments sent by a deleted account, are not
applied, by any processor that counts or lists them.

Why: a like or a comment sent while its target's author was blocking the sender was checked by the API before
the block existed, and published after it. The block's effects (unlikes, comment deletions) are derived from
what the stores hold when the safety processor reads them, so one applied a moment later stayed for good:
counted, and readable by everyone but the blocker, who could not see it to delete it. Each processor now asks
whether a block stands between the sender and the post's author before it applies either; what it applied just
before the block's row was written is what the block's own reading finds.

A deleted account's likes and comments published as its deletion was accepted (or by an upstream service after
it) were applied after the purge had read what to retract: a like by nobody, counted for good. Its unlikes and
comment deletions are still applied: the purge's own retractions are among them.

Asking before the write is not enough on its own: a block written between this processor's question and its
write, whose reading ran before that write, found nothing to end, and the like stayed (one CI run in two, on a
busy machine). So each processor asks again once its write is durable, and retracts what now stands across a
block itself (:func:`retract_raced_engagement`). The safety processor writes the block, then reads;
these write, then read: whichever comes second sees the other, so one of them always ends it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from producers.events import Event, build
from producers.ids import deterministic_id
from producers.publisher import Publisher
from sinks import recent_blocks
from sinks.posts import read_posts_cached
from sinks.revocations import closed_among
from sinks.safety import SafetyReader
from streams.engine.records import Record
from streams.posts_projected import PostsProjected


async def name_post_authors(records: list[Record], safety: SafetyReader | None, redis: Any,
                            projected: PostsProjected | None = None) -> list[Record]:
    """``records``, each like and new comment that does not name its post's author (an upstream service's: v1
    events have no ``post_author_id``) given the author the posts view holds, so it is checked against blocks
    like the API's. Unchecked, such a like sent as the author blocked its sender, and applied after the block's
    reading, stayed across the block for good (the fault tests' oracle found one counted). Only those records
    are read about (one read of the posts view per batch that has any).

    A post the view does not have yet is asked again once the posts projector has applied every post created
    before the newest such record (``projected``; bounded): applied unchecked, a like of a post not projected
    yet stayed across a block whose reading of the author's posts also ran before the projection (the fault
    tests' oracle found one). A post still unknown then (none such, or past the bound) stays unnamed and
    unchecked."""
    unnamed = sorted({r.value["post_id"] for r in records if _names_no_author(r)})
    if not unnamed or safety is None or redis is None:
        return records
    found = await read_posts_cached(safety.session, redis, unnamed)
    authors = {post["post_id"]: post["author_id"] for post in found if post is not None}
    unknown = [post_id for post_id in unnamed if post_id not in authors]
    if unknown and projected is not None:
        newest = max(int(r.value["occurred_at"]) for r in records
                     if _names_no_author(r) and r.value["post_id"] not in authors)
        if await projected.through(newest):
            found = await read_posts_cached(safety.session, redis, unknown)
            authors |= {post["post_id"]: post["author_id"] for post in found if post is not None}
    if not authors:
        return records
    return [r._replace(value={**r.value, "post_author_id": authors[r.value["post_id"]]})
            if _names_no_author(r) and r.value["post_id"] in authors else r for r in records]


def _names_no_author(record: Record) -> bool:
    """A like or a new comment without its post's author."""
    return _added_by(record) is not None and not record.value.get("post_author_id")


def engagement_pair(topic: str, value: dict[str, Any]) -> tuple[str, str] | None:
    """(sender, post author) of a like or a new comment whose post's author the event names, or (tagged person,
    post author) of a new people tag; None for anything else (an unlike, a deletion or an untag is always
    applied; an event without the author, from an older producer, is not checked)."""
    if topic == "photo-tag-changed":
        if value.get("action") != "add" or value["tagged_id"] == value["tagger_id"]:
            return None
        return str(value["tagged_id"]), str(value["tagger_id"])  # (only a post's author adds tags to it)
    if topic == "like-changed" and value.get("action") != "like":
        return None
    if topic not in ("like-changed", "comment-added"):
        return None
    author = value.get("post_author_id")
    return (str(value["user_id"]), str(author)) if author and author != value["user_id"] else None


async def without_engagement_across_blocks(records: list[Record], safety: SafetyReader | None) -> list[Record]:
    """``records`` less the likes and comments whose sender and post author stand in a block (one read of the
    pairs' relations per batch, and none for a batch without likes or comments)."""
    if safety is None:
        return records
    blocked = await _blocked({pair for r in records if (pair := engagement_pair(r.topic, r.value)) is not None},
                             safety)
    if not blocked:
        return records
    return [r for r in records if engagement_pair(r.topic, r.value) not in blocked]


async def _blocked(pairs: set[tuple[str, str]], safety: SafetyReader) -> set[tuple[str, str]]:
    """Which (sender, post author) ``pairs`` stand in a block now."""
    if not pairs:
        return set()
    # asked of the authors' relations (either side holds a block): a batch's likes and comments come from many
    # people onto few people's posts, so far fewer partitions are read (10,000 likers: 59% of the comments
    # processor's throughput; their 500 authors: see benchmark 13)
    return {(sender, author) for author, sender in await safety.blocked_pairs((a, s) for s, a in pairs)}


def retraction_of(record: Record) -> Event:
    """The event that ends a like, a comment or a people tag found across a block after it was written: an
    unlike one millisecond after the like (so it stands over it, and over a re-delivered copy), the comment's
    deletion by the post's author (final), or the tagged person's removal of the tag (as a block's own
    removals are: nobody is notified). Ids derive from the event ended, so a retried batch publishes the same
    ones."""
    value = record.value
    at = int(value["occurred_at"]) + 1
    if record.topic == "like-changed":
        return build("like-changed", {"event_id": deterministic_id("block-race-unlike", value["event_id"]),
                                      "occurred_at": at, "post_id": value["post_id"], "user_id": value["user_id"],
                                      "action": "unlike", "post_author_id": value.get("post_author_id")})
    if record.topic == "photo-tag-changed":
        return build("photo-tag-changed", {"event_id": deterministic_id("block-race-untag", value["event_id"]),
                                           "occurred_at": at, "post_id": value["post_id"],
                                           "image_id": value["image_id"], "tagger_id": value["tagged_id"],
                                           "tagged_id": value["tagged_id"], "action": "remove", "x": None,
                                           "y": None, "pending": False})
    return build("comment-deleted", {"event_id": deterministic_id("block-race-comment-deleted", value["event_id"]),
                                     "occurred_at": at, "comment_id": value["comment_id"],
                                     "post_id": value["post_id"], "user_id": value["user_id"],
                                     "actor_id": value.get("post_author_id") or value["user_id"],
                                     "commented_at": int(value["occurred_at"])})


async def retract_raced_engagement(written: list[Record], topic: str, safety: SafetyReader | None,
                                   publisher: Publisher | None, timeout_s: float, redis: Any = None,
                                   closed_accounts: bool = True) -> int:
    """Publish the retraction of each of ``written``'s ``topic`` events (likes, new comments or tags) whose sender
    and post author now stand in a block, or (with ``closed_accounts``) whose sender's account deletion was
    accepted, once this processor's write of them is durable; how many. Every processor applies them as any
    unlike or deletion (counts, threads, notifications). The purge, like the block, marks first and reads
    after, so the same reasoning holds. Given ``redis``: Cassandra is asked again only about pairs whose post's
    author was in a block lately (:mod:`sinks.recent_blocks`; one ``MGET``), and closed accounts are one more
    ``MGET``, sent alongside; without it (unit tests), every pair is asked."""
    if safety is None or publisher is None:
        return 0
    # each record's (sender, post author) pair and sender, worked out once
    candidates = [(r, engagement_pair(r.topic, r.value), _added_by(r)) for r in written if r.topic == topic]
    across = {pair for _, pair, _ in candidates if pair is not None}
    senders = {sender for _, _, sender in candidates if sender is not None} \
        if redis is not None and closed_accounts else set()
    if not across and not senders:
        return 0
    closed: set[str] = set()
    if redis is not None:
        # the posts' authors only: a block notes both its people, and a batch's likes come from many people
        # onto few people's posts (10,000 likers, 500 authors in benchmark 13)
        noted, closed = await asyncio.gather(recent_blocks.noted_among(redis, {author for _, author in across}),
                                             _closed(redis, safety.session, senders))
        if noted is not None:
            across = {pair for pair in across if pair[1] in noted}
    blocked = await _blocked(across, safety)
    raced = [retraction_of(r) for r, pair, sender in candidates if pair in blocked or sender in closed]
    if raced:
        await publisher.acknowledged(raced, timeout_s)
    return len(raced)


async def retract_refused(received: list[Record], applied: list[Record], topic: str, publisher: Publisher | None,
                          timeout_s: float) -> int:
    """Publish the retraction of each of ``received``'s ``topic`` events that this processor refused (left out of
    ``applied``: across a block, or sent by a deleted account); how many.

    Why: the processor that owns a thing is where a block's and a purge's readings find it, and another
    processor may have applied the same event before the block stood. The comment *count* is the popularity
    processor's, the thread (what a block's reading finds) this one's: a comment counted just before a block,
    then refused here, was in no thread for the block to delete, and stayed counted for good (the fault tests'
    SIGKILL run found one on a busy machine). A refused comment must stand nowhere, so its retraction (final,
    with a deterministic id: a retried batch sends the same one) is published for whoever applied it."""
    if publisher is None:
        return 0
    kept = {id(r) for r in applied}
    refused = [retraction_of(r) for r in received if r.topic == topic and _added_by(r) is not None
               and id(r) not in kept]
    if refused:
        await publisher.acknowledged(refused, timeout_s)
    return len(refused)


async def _closed(redis: Any, session: Any, senders: set[str]) -> set[str]:
    return await closed_among(redis, session, senders) if senders else set()


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
