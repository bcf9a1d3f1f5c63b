"""The people-tags processor: photo-tag-changed → ``photo_tags``, ``tagged_posts`` and ``pending_tagged_posts``;
post-deleted and account-deleted purge them.

A batch processor on the engine (streams/engine):

1. every tag change is a set of absolute, timestamped writes (sinks/photo_tags.py), so the batch needs no read
   and duplicates and replays change nothing; then its posts join the Redis set of tagged posts
   (sinks/tagged_posts.py: pages read tags only for posts in it);
2. then the purges: a deleted post's tags leave the tagged users' lists; a deleted account's tags (on others'
   photos, and on its own posts) go. They run after the batch's tag writes, so a tag and its post's deletion
   in one batch end deleted;
3. the applied-offset marks move, so a read with ``?after=`` sees the change.
"""

from __future__ import annotations

import asyncio
from typing import Any

from photostream.domain.photo_tags import TagChange, tag_change
from producers.ids import is_id
from sinks import offsets
from sinks.photo_tags import PhotoTagWriter
from sinks.tagged_posts import TaggedPosts
from streams.engine.records import Record, Reject


class PhotoTagsProcessor:
    name: str = "photo_tags"
    topics: tuple[str, ...] = ("photo-tag-changed", "post-deleted", "account-deleted")
    #: the author (or the tagged person) reloads the post right away (``?after=``): keep batches short
    flush_interval_s: float = 0.05

    def __init__(self, writer: PhotoTagWriter, redis: Any) -> None:
        self._writer = writer
        self._redis = redis
        #: the API reads tags only for posts in this set: every post written here joins it
        self._tagged = TaggedPosts(redis)

    async def process(self, batch: list[Record], reject: Reject) -> None:
        changes: list[TagChange] = []
        deleted_posts: dict[str, int] = {}
        deleted_users: dict[str, int] = {}
        for record in batch:
            try:
                if record.topic == "photo-tag-changed":
                    changes.append(tag_change(record.value))
                elif record.topic == "post-deleted":
                    _collect(deleted_posts, record.value, "post_id")
                else:
                    _collect(deleted_users, record.value, "user_id")
            except ValueError as exc:
                reject(record, exc)
        await self._writer.apply(changes)
        await self._tagged.add(c.post_id for c in changes)
        await asyncio.gather(*(self._writer.purge_post(p, at) for p, at in deleted_posts.items()),
                             *(self._writer.purge_user(u, at) for u, at in deleted_users.items()))
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))


def _collect(into: dict[str, int], event: dict[str, Any], field: str) -> None:
    """The purge's subject and its latest time in this batch (duplicates collapse into one purge)."""
    subject = event[field]
    if not isinstance(subject, str) or not is_id(subject):
        raise ValueError(f"{field}: not an id")
    into[subject] = max(into.get(subject, 0), int(event["occurred_at"]))
