"""The people-tags processor: photo-tag-changed → ``photo_tags``, ``tagged_posts`` and ``pending_tagged_posts``;
post-deleted and account-deleted purge them.

A batch processor on the engine (streams/engine):

1. every tag change is a set of absolute, timestamped writes (sinks/photo_tags.py), so the batch needs no read
   and duplicates and replays change nothing; then its posts join the Redis set of tagged posts
   (sinks/tagged_posts.py: pages read tags only for posts in it). A tag across a block is not added, and one
   a block raced is removed once written (:mod:`streams.engagement_blocks`);
2. then the purges: a deleted post's tags leave the tagged users' lists; a deleted account's tags (on others'
   photos, and on its own posts) go. They run after the batch's tag writes, so a tag and its post's deletion
   in one batch end deleted. A deleted account is marked closed before its purge reads, and a new tag of or by
   a closed account is removed once written, so a tag in flight as the account was deleted is found by one
   of the two;
3. the applied-offset marks move, so a read with ``?after=`` sees the change.
"""

from __future__ import annotations

import asyncio
from typing import Any

from photostream.domain.photo_tags import TagChange, tag_change
from producers.ids import is_id
from producers.publisher import Publisher
from sinks import offsets
from sinks.photo_tags import PhotoTagWriter
from sinks.revocations import RevocationLedger
from sinks.safety import SafetyReader
from sinks.tagged_posts import TaggedPosts
from streams.closed_accounts_acts import retract_acts_of_closed_accounts
from streams.engagement_blocks import retract_raced_engagement, retraction_of, without_engagement_across_blocks
from streams.engine.records import Record, Reject


class PhotoTagsProcessor:
    name: str = "photo_tags"
    topics: tuple[str, ...] = ("photo-tag-changed", "post-deleted", "account-deleted")
    #: the author (or the tagged person) reloads the post right away (``?after=``): keep batches short
    flush_interval_s: float = 0.05

    def __init__(self, writer: PhotoTagWriter, redis: Any, safety: SafetyReader | None = None,
                 publisher: Publisher | None = None, publish_timeout_s: float = 10.0) -> None:
        self._writer = writer
        self._redis = redis
        #: tags across a block are not added; one a block raced is removed through ``publisher`` once written
        self._safety, self._publisher, self._publish_timeout_s = safety, publisher, publish_timeout_s
        #: the API reads tags only for posts in this set: every post written here joins it
        self._tagged = TaggedPosts(redis)
        #: where a deleted account is marked closed (``auth:closed``) before its tags are purged
        self._ledger = RevocationLedger(writer.session, redis)

    async def process(self, batch: list[Record], reject: Reject) -> None:
        changes: list[tuple[Record, TagChange]] = []
        deleted_posts: dict[str, int] = {}
        deleted_users: dict[str, int] = {}
        for record in batch:
            try:
                if record.topic == "photo-tag-changed":
                    changes.append((record, tag_change(record.value)))
                elif record.topic == "post-deleted":
                    _collect(deleted_posts, record.value, "post_id")
                else:
                    _collect(deleted_users, record.value, "user_id")
            except ValueError as exc:
                reject(record, exc)
        admitted = await without_engagement_across_blocks([r for r, _ in changes], self._safety)
        if len(admitted) < len(changes):
            kept = {id(r) for r in admitted}
            changes = [(r, c) for r, c in changes if id(r) in kept]
        await self._writer.apply([c for _, c in changes])
        await self._tagged.add(c.post_id for _, c in changes)
        # (a deleted account's tags are this processor's own to purge: account-deleted is among its topics)
        await retract_raced_engagement(admitted, "photo-tag-changed", self._safety, self._publisher,
                                       self._publish_timeout_s, self._redis, closed_accounts=False)
        # a new tag of or by an account whose deletion was accepted: its purge here may have read the account's
        # tags before this write (as the tagged person removes one: nobody is notified)
        new_tags = [r for r in admitted if r.value.get("action") in ("add", "approve")]
        await retract_acts_of_closed_accounts(new_tags, retraction_of, self._redis, self._writer.session,
                                              self._publisher, self._publish_timeout_s)
        # the deletion marked before the purge reads: a tag written after that reading is found by the question
        # above (the purge processor marks too, but at its own pace: an upstream service's deletion is unmarked
        # until then)
        await asyncio.gather(*(self._ledger.revoke("account", u, None) for u in deleted_users))
        await asyncio.gather(*(self._writer.purge_post(p, at) for p, at in deleted_posts.items()),
                             *(self._writer.purge_user(u, at) for u, at in deleted_users.items()))
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))


def _collect(into: dict[str, int], event: dict[str, Any], field: str) -> None:
    """The purge's subject and its latest time in this batch (duplicates collapse into one purge)."""
    subject = event[field]
    if not isinstance(subject, str) or not is_id(subject):
        raise ValueError(f"{field}: not an id")
    into[subject] = max(into.get(subject, 0), int(event["occurred_at"]))
