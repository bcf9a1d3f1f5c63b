"""The account purge: account-deleted → every trace of the account gone, mostly through the normal paths.

A batch processor on the engine (streams/engine). Per deleted account, in this order:

1. retractions as events (photostream.domain.account_purge): ``post-deleted`` per post, ``follow-changed``
   unfollow per edge both ways, ``like-changed`` unlike per like, ``comment-deleted`` per comment. The feeds,
   hashtag, popularity, comments, people-tag, notification and posts processors then retract them as they
   retract anyone's, so every view stays a projection of its topics. They are acknowledged before anything
   below (a failed delivery fails the batch, which is retried, re-emitting the same ids);
2. direct deletes of what nobody derives from events (sinks/account_purge.py): profile and settings, blocks
   and mutes, the unread index of what it sent, presence, requests to the account, the feed keys, photos in S3
   and their rows; then a tombstone keyed by the account on each compacted topic, so compaction drops its
   profile updates and presence from the log;
3. last, the credentials, and with them the username and e-mail address become free again (see the README,
   "Account deletion", for why they are released rather than kept);
4. the applied-offset marks move, with where the retractions landed, so a test (or a client) can await the
   purge and its consequences (``?after=`` waits for both: :data:`api.consistency.DERIVERS`).

The account's own notifications, people tags and unread badge are purged by those processors, which read
account-deleted themselves (each is the only writer of what it remembers). Idempotent: a replay re-reads what
is left (nothing, once the first run's events were applied) and publishes only what still exists, under the
same ids.
"""

from __future__ import annotations

import asyncio
import logging

from photostream.contracts.catalog import TOPICS
from photostream.domain.account_purge import Deletion, retractions
from producers.events import event_type
from producers.ids import is_id
from producers.publisher import Publisher
from sinks import offsets
from sinks.account_purge import AccountPurge
from streams.engine.records import Record, Reject

log = logging.getLogger(__name__)


class AccountPurgeProcessor:
    name: str = "account_purge"
    topics: tuple[str, ...] = ("account-deleted",)
    #: deletions are rare and each is a lot of work; a short window still keeps the purge prompt
    flush_interval_s: float = 0.2

    def __init__(self, purge: AccountPurge, publisher: Publisher, redis: object,
                 publish_timeout_s: float = 10.0) -> None:
        self._purge = purge
        self._publisher = publisher
        self._redis = redis
        self._publish_timeout_s = publish_timeout_s

    async def process(self, batch: list[Record], reject: Reject) -> None:
        deletions: dict[str, Deletion] = {}
        for record in batch:
            user = record.value.get("user_id")
            if not isinstance(user, str) or not is_id(user):
                reject(record, ValueError("user_id: not an id"))
                continue
            deletions.setdefault(user, Deletion.of(record.value))  # duplicates: the first one's ids
        derived: dict[tuple[str, int], int] = {}
        for deletion in deletions.values():
            for place, offset in (await self._purge_one(deletion)).items():
                derived[place] = max(derived.get(place, -1), offset)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch), derived)

    async def _purge_one(self, deletion: Deletion) -> dict[tuple[str, int], int]:
        """Returns where the retractions landed (a read after the deletion waits for them too)."""
        user, at = deletion.user_id, deletion.occurred_at
        await self._purge.tokens_refused(user)
        footprint = await self._purge.footprint(user)
        derived = await self._publish(retractions(deletion, footprint))
        await self._purge.posts_erased(footprint.posts, at)
        await self._purge.own_rows_gone(user, at)
        await self._tombstones(user)
        images = await self._purge.photos_gone(user)
        await self._purge.credentials_gone(user)
        log.info("purged account %s: %d posts, %d follows, %d followers, %d likes, %d comments, %d images",
                 user, len(footprint.posts), len(footprint.following), len(footprint.followers),
                 len(footprint.liked_posts), len(footprint.comments), len(images))
        return derived

    async def _tombstones(self, user: str) -> None:
        """A null record keyed by the account on each compacted topic keyed by user (its profile updates, its
        presence): compaction then drops what it published there from the log (its bio and names stayed for
        good, and a replay exported them), and every reader skips the marker
        (:func:`photostream.contracts.catalog.is_tombstone`)."""
        sent = [self._publisher.submit_raw(spec.name, user, None) for spec in TOPICS
                if spec.compacted and spec.key_field == "user_id"]
        await asyncio.to_thread(self._publisher.flush)
        await asyncio.wait_for(asyncio.gather(*(asyncio.wrap_future(f) for f in sent)), self._publish_timeout_s)

    async def _publish(self, events: list[tuple[str, dict[str, object]]]) -> dict[tuple[str, int], int]:
        # a failed delivery raises here, so the batch is retried
        return await self._publisher.acknowledged([event_type(topic).build(fields) for topic, fields in events],
                                                  self._publish_timeout_s)
