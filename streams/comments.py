"""The comments projector: comment-added / comment-deleted → ``comments_by_post`` in Cassandra (newest first per
post).

A batch processor on the engine (streams/engine): every write is an absolute upsert keyed by comment id and
timestamped with the event time, and a deletion a tombstone timestamped above any event's, so duplicates,
replays and a deletion seen before its comment change nothing and the batch needs no read. After
the writes are durable the applied-offset marks move, so a read with ``?after=`` sees the comment. (The
comment *count* is the popularity processor's: it is kept with the like count in ``post_engagement``.)
"""

from __future__ import annotations

from typing import Any

from producers.ids import is_recurring_id
from producers.publisher import Publisher
from sinks import offsets
from sinks.comments import Comment, CommentGone, CommentWriter
from sinks.safety import SafetyReader
from streams.engagement_blocks import (
    name_post_authors,
    retract_raced_engagement,
    retract_refused,
    without_engagement_across_blocks,
    without_engagement_of_closed_accounts,
)
from streams.engine.records import Record, Reject, accepted
from streams.posts_projected import PostsProjected


def comment_of(event: dict[str, Any]) -> Comment:
    """The comment an event describes; ``ValueError`` (→ DLQ) for one no client could have made."""
    if not all(is_recurring_id(event[f]) for f in ("comment_id", "post_id", "user_id")):
        raise ValueError("comment_id/post_id/user_id: not ids")
    return Comment(event["comment_id"], event["post_id"], event["user_id"], event["text"],
                   int(event["occurred_at"]))


def change_of(record: Record) -> Comment | CommentGone:
    """A comment to write, or one to delete; ``ValueError`` (→ DLQ) for one no client could have made."""
    if record.topic == "comment-added":
        return comment_of(record.value)
    event = record.value
    if not all(is_recurring_id(event[f]) for f in ("comment_id", "post_id", "user_id", "actor_id")):
        raise ValueError("comment_id/post_id/user_id/actor_id: not ids")
    return CommentGone(event["comment_id"], event["post_id"])


class CommentsProjector:
    name: str = "comments"
    topics: tuple[str, ...] = ("comment-added", "comment-deleted")
    #: a commenter reloads the thread right away (``?after=``): keep batches short
    flush_interval_s: float = 0.05

    def __init__(self, writer: CommentWriter, redis: Any, safety: SafetyReader | None = None,
                 publisher: Publisher | None = None, publish_timeout_s: float = 10.0,
                 projected: PostsProjected | None = None) -> None:
        self._writer = writer
        self._redis = redis
        #: comments across a block are not written (:mod:`streams.engagement_blocks`); one a block raced is
        #: deleted through ``publisher`` once written; one not naming its post's author waits for the post's
        #: projection (``projected``) to be checked
        self._safety, self._publisher, self._publish_timeout_s = safety, publisher, publish_timeout_s
        self._projected = projected

    async def process(self, batch: list[Record], reject: Reject) -> None:
        named = await name_post_authors(batch, self._safety, self._redis, self._projected)
        applied = await without_engagement_across_blocks(named, self._safety)
        if self._safety is not None:  # (and not by a deleted account)
            applied = await without_engagement_of_closed_accounts(applied, self._redis, self._safety.session)
        # a refused comment may have been counted already (the count is the popularity processor's): retracted
        await retract_refused(named, applied, "comment-added", self._publisher, self._publish_timeout_s)
        written = accepted(applied, lambda r: (r, change_of(r)), reject)
        await self._writer.apply([change for _, change in written])
        # the threads are this processor's: a block's or a purge's reading that ran before this write is
        # answered here
        await retract_raced_engagement([r for r, _ in written], "comment-added", self._safety, self._publisher,
                                       self._publish_timeout_s, self._redis)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))
