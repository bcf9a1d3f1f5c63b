"""The caller's own data as one JSON document (``GET /users/me/export``): what they made and what they set.

Read from the same stores the API reads (never from Kafka): profile and settings, posts with their photos (ids
and links that work without a token, signed, since the archive outlives the session), comments, likes,
followers and following, blocks and mutes, people tags on their photos and of them, notifications, every
completed upload (posted or not) and the active avatar. Every list is read whole (paged underneath), so the
archive is bounded by what one account holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from cassandra.cluster import Session

from api.notifications import NotificationReads
from api.visibility import visible_posts
from photostream.domain.notifications import ListPosition, parse_list_position
from photostream.domain.photo_tags import PhotoTag
from photostream.settings import Settings
from producers.ids import now_ms
from sinks.account_purge import ACCOUNT_COMMENTS, ACCOUNT_LISTS
from sinks.cassandra import ms_of, pages
from sinks.credentials import CredentialStore
from sinks.images import ImageFile
from sinks.photo_tags import APPROVED, PENDING
from sinks.posts import read_posts_cached
from sinks.profiles import read_profile

_PAGE = 1000
FORMAT = "photostream-export/1"
NOTIFICATIONS_MAX = 1000


class AccountExport:
    def __init__(self, settings: Settings, session: Session) -> None:
        self._settings, self._session = settings, session
        self._notification_reads: NotificationReads | None = None
        self._credentials = CredentialStore(session)
        p = session.prepare
        self._lists = {name: p(cql) for name, cql in {
            **ACCOUNT_LISTS,
            APPROVED: f"SELECT post_id AS id FROM {APPROVED} WHERE tagged_id = ?",
            PENDING: f"SELECT post_id AS id FROM {PENDING} WHERE tagged_id = ?",
        }.items()}
        self._comments_q = p(ACCOUNT_COMMENTS)
        self._relations = p("SELECT other_id, i_block, i_mute FROM user_relations WHERE user_id = ?")
        self._muted_tags = p("SELECT tag, muted FROM muted_tags WHERE user_id = ?")

    async def _rows(self, statement: Any, user_id: str) -> AsyncIterator[Any]:
        async for page in pages(self._session, statement, (user_id,), _PAGE):
            for row in page:
                yield row

    async def _ids(self, name: str, user_id: str) -> list[str]:
        return [row.id async for row in self._rows(self._lists[name], user_id)]

    async def archive(self, resources: Any, user_id: str) -> dict[str, Any]:
        """The whole archive of ``user_id``."""
        session, redis = self._session, resources.redis
        (profile, identity, tag_settings, post_ids, following, followers, likes, tagged, pending, comments,
         safety, notifications, requested, requested_by, uploads) = await asyncio.gather(
            read_profile(session, redis, user_id), self._credentials.identity(user_id),
            resources.tag_settings.of(user_id), self._ids("posts", user_id), self._ids("following", user_id),
            self._ids("followers", user_id), self._ids("likes", user_id), self._ids(APPROVED, user_id),
            self._ids(PENDING, user_id), self._comments(user_id), self._safety(user_id),
            self._notifications(resources, user_id), self._ids("requested", user_id),
            self._ids("requested_by", user_id), self._uploads(resources, user_id))
        posts = [p for p in await read_posts_cached(session, redis, post_ids) if p is not None]
        # the tags on others' posts as the user may see those posts now: a tag on a post hidden from them (an
        # only-me post, a private account they do not follow) would name a post they cannot know of
        others = await read_posts_cached(session, redis, list(dict.fromkeys(tagged + pending)))
        seen = [p["post_id"] for p in await visible_posts(resources.graph, user_id, others) if p is not None]
        tags = await resources.photo_tags.of_posts(post_ids + seen)
        links = resources.image_links
        posted = {image for post in posts for image in post["image_ids"]}
        avatar = (profile or {}).get("avatar_image_id")
        return {
            "format": FORMAT, "exported_at": now_ms(), "user_id": user_id,
            "account": {"username": identity[0] if identity else None, "email": identity[1] if identity else None},
            "profile": profile,
            "settings": {"is_private": bool(profile and profile.get("is_private")),
                         "tags_from": "following" if tag_settings.followed_only else "everyone",
                         "tags_manual_approval": tag_settings.manual_approval},
            "posts": [{**post, "photos": [{"image_id": i, "url": links.signed(i)} for i in post["image_ids"]],
                       "people_tags": [_tag(t) for t in tags.get(post["post_id"], [])]} for post in posts],
            "comments": comments,
            "likes": [{"post_id": p} for p in likes],
            "following": following, "followers": followers,
            # (pending: the people it asked to follow, and who asked to follow it)
            "follow_requests": {"sent": requested, "received": requested_by},
            **safety,
            "tagged_in": [_tag(t) for p in seen for t in tags.get(p, []) if t.tagged_id == user_id],
            "notifications": notifications,
            # every photo the account uploaded, the ones no post shows included (they were missing), and which
            # one is its avatar (its link was missing too)
            "uploads": [{"image_id": i.image_id, "url": links.signed(i.image_id) if i.broken is None else None,
                         "width": i.width, "height": i.height, "completed_at": i.completed_at_ms,
                         "posted": i.image_id in posted, "avatar": i.image_id == avatar} for i in uploads],
            "avatar": {"image_id": avatar, "url": links.signed(avatar)} if avatar else None,
        }

    async def _notifications(self, resources: Any, user_id: str) -> list[dict[str, Any]]:
        """The newest :data:`NOTIFICATIONS_MAX` (older ones are aggregates of others' actions, not theirs)."""
        if self._notification_reads is None:
            self._notification_reads = NotificationReads(self._settings, resources)
        found: list[dict[str, Any]] = []
        cursor: ListPosition | None = None
        while len(found) < NOTIFICATIONS_MAX:
            page = await self._notification_reads.page(user_id, cursor, 100)
            found += page.items
            if page.next_cursor is None:
                break
            cursor = parse_list_position(page.next_cursor)
        return found[:NOTIFICATIONS_MAX]

    async def _uploads(self, resources: Any, user_id: str) -> list[ImageFile]:
        """Every completed upload, newest first (the profile-photo picker's pages, read to the end)."""
        found: list[ImageFile] = []
        before: str | None = None
        while True:
            page, before = await resources.images.completed_by(user_id, _PAGE, before)
            found += page
            if before is None:
                return found

    async def _comments(self, user_id: str) -> list[dict[str, Any]]:
        """Oldest first (comment ids are UUIDv7), in one paged query: the index answers with the rows."""
        found = [{"comment_id": row.comment_id, "post_id": row.post_id, "text": row.text,
                  "created_at": ms_of(row.created_at) if row.created_at else None}
                 async for row in self._rows(self._comments_q, user_id) if row.text is not None]
        return sorted(found, key=lambda c: c["comment_id"])

    async def _safety(self, user_id: str) -> dict[str, list[str]]:
        blocked, muted = [], []
        async for row in self._rows(self._relations, user_id):
            if row.i_block:
                blocked.append(row.other_id)
            if row.i_mute:
                muted.append(row.other_id)
        tags = [row.tag async for row in self._rows(self._muted_tags, user_id) if row.muted]
        return {"blocked": blocked, "muted": muted, "muted_tags": tags}


def _tag(tag: PhotoTag) -> dict[str, Any]:
    return {"post_id": tag.post_id, "image_id": tag.image_id, "tagged_id": tag.tagged_id,
            "tagger_id": tag.tagger_id, "x": tag.x, "y": tag.y, "pending": tag.pending}
