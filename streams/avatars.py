"""The avatars processor: profile-updated → the active avatar of the user's e-mail hash, then a CDN purge.

``GET /avatar/{hash}`` answers from ``avatars_by_hash``, which only this processor changes. Per change, in order:
1. the new active image is written (the event time is the cell timestamp, so an older event replayed later
   loses), so whoever asks after step 2 gets the new photo, a CDN refetching at once included;
2. the avatar's URLs (every width) are purged at the configured endpoint (nothing when none is configured);
3. the change is marked purged.
A batch retried after a crash between 1 and 3 finds the change written but not purged and purges again: purges
are at-least-once, and a duplicate is harmless. Profile changes that keep the avatar (a new bio) purge nothing.

A purge endpoint that cannot be reached is retried a few times, then the purge is given up (logged and counted):
the CDN's max-age bounds how long it can serve the old photo, and one broken CDN must not stall every later
avatar change. An endpoint that refuses (4xx) is given up at once.
"""

from __future__ import annotations

from typing import Any

from producers.ids import is_id
from sinks import offsets
from sinks.avatars import AvatarDirectory
from sinks.cdn_purge import PURGES, AvatarPurge, CdnPurger, avatar_paths
from streams.engine.records import Record, Reject

__all__ = ["PURGES", "AvatarsProcessor", "avatar_paths"]  # (avatar_paths and PURGES live in sinks.cdn_purge)


class AvatarsProcessor:
    name: str = "avatars"
    topics: tuple[str, ...] = ("profile-updated",)
    #: the person who changed their photo looks at it right away
    flush_interval_s: float = 0.05

    def __init__(self, directory: AvatarDirectory, purger: CdnPurger, redis: Any,
                 retry_delay_s: float = 0.5) -> None:
        self._directory, self._redis = directory, redis
        self._purge = AvatarPurge(purger, retry_delay_s)

    async def process(self, batch: list[Record], reject: Reject) -> None:
        for record in batch:  # keyed by user: one user's changes arrive, and are applied, in order
            event = record.value
            try:
                if not is_id(event["user_id"]):
                    raise ValueError("user_id: not an id")
                image_id = event.get("avatar_image_id")
                occurred = int(event["occurred_at"])
            except (KeyError, ValueError, TypeError) as exc:
                reject(record, exc)
                continue
            await self._apply(event["user_id"], image_id, occurred)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))

    async def _apply(self, user_id: str, image_id: str | None, occurred: int) -> None:
        email_hash = await self._directory.hash_of(user_id)
        if email_hash is None:
            return  # no e-mail hash recorded (an account from before avatars): no avatar URL to change
        current = await self._directory.lookup(email_hash)
        if current is None:
            return
        if occurred > current.avatar_at and image_id != current.image_id:
            await self._directory.activate(email_hash, image_id, occurred)
        elif not (current.avatar_at == occurred and current.purged_at < occurred):
            return  # unchanged, older, or already purged; only a written but unpurged change goes on
        await self._purge(email_hash)
        await self._directory.mark_purged(email_hash, occurred)
