"""A user's notifications as the API shows them: paged from Redis, then Cassandra; hydrated in bulk.

A page is the Redis list's items below the cursor (one script: ids, payloads, the read mark and the floor) and,
only when Redis does not hold everything (a trimmed list, or no list at all after a Redis loss), the rest from
Cassandra strictly below the last id served (a user found to have none is remembered, so the many users
nobody notified yet cost no Cassandra read on every visit). Hydration is a constant number of round trips:
the actors' profiles (one pipeline, misses in one Cassandra read) and, for post notifications, the posts and
the visibility check (:func:`api.visibility.visible_posts`): a notification about a post the reader may no longer
see (deleted, made private, its author blocked either way) is left out at read time too.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from api.auth import AccessClaims, checked_reads
from api.visibility import visible_posts
from photostream.domain.notifications import ListPosition, is_read, muted_or_blocked, target_kind_of
from photostream.settings import Settings
from sinks.notification_lists import Copy, NotificationLists, Page, copy_unless_whole, page_of_copy, restore
from sinks.notifications import NotificationStore, StoredNotification
from sinks.posts import read_posts_cached
from sinks.profiles import read_profiles

Item = dict[str, Any]
#: how many notifications above a mark are checked for being hidden (a mark-read reads them once)
HIDDEN_SKIPPED_MAX = 200


@dataclass(frozen=True)
class NotificationsPage:
    items: list[Item]
    next_cursor: str | None


class NotificationReads:
    """Prepared once per API process (``app.state``)."""

    def __init__(self, settings: Settings, resources: Any) -> None:
        self._resources = resources
        self._bucket_ms = settings.notification_bucket_s * 1000
        self.store = NotificationStore(resources.session)
        self.lists = NotificationLists(resources.redis, settings.app_id, settings.notifications_cap)

    async def page(self, user: str, cursor: ListPosition | None, limit: int) -> NotificationsPage:
        return await self._completed(user, await self.lists.page(user, self._bound(cursor), limit), cursor, limit)

    async def page_checked(self, claims: AccessClaims, cursor: ListPosition | None,
                           limit: int) -> NotificationsPage:
        """The token's user's page, the token's revocation checked in the Redis read of the list (one round
        trip for both). Raises :class:`InvalidTokenError` for a revoked token."""
        user = claims.user_id
        reads = self._resources.redis_reads or self._resources.redis  # shared per event-loop turn
        (raw,) = await checked_reads(self._resources.revocations, reads, claims,
                                     lambda pipe: self.lists.page_in(pipe, user, self._bound(cursor), limit))
        return await self._completed(user, self.lists.page_of(user, raw), cursor, limit)

    def _bound(self, cursor: ListPosition | None) -> tuple[str, int] | None:
        return None if cursor is None else (cursor.id, cursor.updated_bound(self._bucket_ms))

    async def _completed(self, user: str, cached: Page, cursor: ListPosition | None,
                         limit: int) -> NotificationsPage:
        """The page from what Redis held (newest first by ``updated_at``), completed from Cassandra where it does
        not hold everything: from the floor down (in id order: bucket by bucket), or below the cursor when that
        is already below the floor. A list Redis does not hold whole is copied first, and the page served from
        the copy."""
        if not cached.known:  # Redis lost the list (the mark too), or nobody read it yet: copy it there, and serve
            # this page from the copy (in the list's order, whether Redis took the copy or a projection beat it)
            cached = page_of_copy(await restore(self.lists, self.store, user, cached.version), self._bound(cursor),
                                  limit)
        read_at = cached.read_at
        found = list(cached.items)
        if len(found) < limit and not cached.complete:
            if cursor is not None and cursor.id <= cached.floor:
                before: str | None = cursor.id  # the rest is Cassandra's
            else:  # Redis served down to its floor; "~" sorts above every id character: the floor's own row too
                before = cached.floor + "~"
            found += await self.store.page(user, before, limit - len(found))
        items = await self._hydrate(user, found, read_at)
        last = found[-1] if len(found) == limit else None
        return NotificationsPage(items, ListPosition(last.id, last.updated_at).encoded() if last else None)

    async def _hydrate(self, user: str, found: list[StoredNotification], read_at: int) -> list[Item]:
        resources = self._resources
        post_ids = sorted({n.target_id for n in found if target_kind_of(n.kind) == "post"})
        actors = sorted({a for n in found for a in n.actors})
        # both Redis reads go out in one pipeline (the process's batching client): one round trip, not two
        profiles, posts, blocked = await asyncio.gather(
            read_profiles(resources.session, resources.redis, actors, resources.redis_reads),
            read_posts_cached(resources.session, resources.redis, post_ids, resources.redis_reads),
            _hidden_actors(resources, user, actors))
        visible = {p["post_id"] for p in await visible_posts(resources.graph, user, posts) if p is not None}
        items: list[Item] = []
        for n in found:
            kind = target_kind_of(n.kind)
            shown = [a for a in n.actors if a not in blocked]  # nobody in a block with the user, or muted, is named
            others = n.actor_count - (len(n.actors) - len(shown))  # members still counted, named or not
            # (only when nobody is left: the newest three muted hid a like that twenty others had made too)
            if (kind == "post" and n.target_id not in visible) or (n.actors and others <= 0):
                continue
            items.append({
                "id": n.id, "kind": n.kind, "target": {"kind": kind, "id": n.target_id},
                "actors": [{"id": a, "username": (profiles.get(a) or {}).get("username")} for a in shown],
                "actor_count": others,
                "read": is_read(n.updated_at, read_at), "updated_at": n.updated_at,
            })
        return items

    async def unread(self, user: str) -> int:
        """The unread count: Redis's, or Cassandra's when Redis does not hold the list whole (copied there on the
        way)."""
        unread = await self.lists.unread(user)
        if unread.whole:
            return unread.in_redis
        copy = await restore(self.lists, self.store, user, unread.version)
        return sum(n.updated_at > copy.read_at for n in copy.items)

    async def mark_read(self, user: str, up_to: str | None) -> int | None:
        """Mark read everything updated up to the notification ``up_to`` was at (its ``updated_at``), and the
        notifications just above it that the list hides (``up_to`` None: everything); None if the user has no
        such notification. Durable first (Cassandra), then the Redis mark (which pings the status).

        Why the hidden ones: the unread count is one count above the mark, but the list leaves out, at read
        time, notifications about a post since deleted or hidden and those whose actors the reader blocked. Those
        kept the badge up with nothing the reader could mark (an empty list has no id to send at all)."""
        copy = await copy_unless_whole(self.lists, self.store, user)  # (a lost list's remains are not it)
        if up_to is None:
            mark = await self._newest_update(user, copy)
            if mark is None:
                return await self.store.read_at(user)
        else:
            item = await self._item(user, up_to, copy) or await self.store.one(user, up_to)
            if item is None:
                return None
            mark = await self._past_hidden(user, item.updated_at, copy)
        await self.store.mark_read(user, mark)
        if not await self.lists.mark_read(user, mark):  # a mark never goes back: the one that stands is answered
            mark = max(mark, await self.lists.read_mark(user))
        return mark

    async def _newest_update(self, user: str, copy: Copy | None) -> int | None:
        if copy is not None:
            return max((n.updated_at for n in copy.items), default=None)
        return await self.lists.newest_update(user)

    async def _item(self, user: str, notification_id: str, copy: Copy | None) -> StoredNotification | None:
        if copy is not None:
            return next((n for n in copy.items if n.id == notification_id), None)
        return await self.lists.item(user, notification_id)

    async def _past_hidden(self, user: str, mark: int, copy: Copy | None) -> int:
        """``mark`` moved past the notifications above it that the list hides, up to the first one it shows."""
        if copy is not None:  # oldest first, as Redis ranges them (ties: id)
            above = sorted((n for n in copy.items if n.updated_at > mark),
                           key=lambda n: (n.updated_at, n.id))[:HIDDEN_SKIPPED_MAX]
        else:
            above = await self.lists.newer_than(user, mark, HIDDEN_SKIPPED_MAX)
        shown = {item["id"] for item in await self._hydrate(user, above, 0)} if above else set()
        for notification in above:  # oldest first
            if notification.id in shown:
                break
            mark = notification.updated_at
        return mark


async def _hidden_actors(resources: Any, user: str, actors: list[str]) -> set[str]:
    """The actors the user never hears from: in a block with them either way, or muted by them (a mute hides
    what they did before it too, as the rule is checked at read as well as when applied)."""
    if not actors:
        return set()
    return {a for a, relation in (await resources.safety.relations(user, actors)).items() if muted_or_blocked(relation)}
