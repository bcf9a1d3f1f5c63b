"""People tags in Cassandra (sinks/migrations/0011): ``photo_tags`` per post, ``tagged_posts`` ("photos of you")
and ``pending_tagged_posts`` per tagged user. Written by the photo_tags processor, read by the API.

Every write is absolute and carries the change's time as its cell timestamp
(:func:`photostream.domain.photo_tags.write_timestamp_us`), so a batch needs no read, applies in any order, and
duplicates and replays change nothing: an add writes the tag and puts the photo in exactly one of the tagged
user's two sets, an approval flips ``pending`` and moves the photo to the approved set, a removal deletes the
tag and takes the photo out of both sets. The two purges (a deleted post, a deleted account) read which tags
exist first, then delete them with the purge's time, so a tag written later than the purge survives it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from cassandra.cluster import Session

from photostream.domain.photo_tags import PhotoTag, TagChange, write_timestamp_us
from sinks import cache_aside
from sinks.built_sets import SetLostError
from sinks.cassandra import Gated, execute, execute_grouped, ms_of, pages
from sinks.tagged_posts import TaggedPosts

log = logging.getLogger(__name__)
_IN_CHUNK = 100
_PAGE = 500
_TAG_COLUMNS = "post_id, image_id, tagged_id, tagger_id, x, y, pending, tagged_at"
#: the two per-user indexes: approved tags ("photos of you") and tags waiting for approval
APPROVED, PENDING = "tagged_posts", "pending_tagged_posts"


class PhotoTagWriter:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._run = Gated(session).run
        self._insert = session.prepare(
            "INSERT INTO photo_tags (post_id, image_id, tagged_id, tagger_id, x, y, pending, tagged_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?")
        self._approve = session.prepare(
            "UPDATE photo_tags USING TIMESTAMP ? SET pending = false WHERE post_id = ? AND image_id = ? "
            "AND tagged_id = ?")
        self._remove = session.prepare(
            "DELETE FROM photo_tags USING TIMESTAMP ? WHERE post_id = ? AND image_id = ? AND tagged_id = ?")
        self._purge_post = session.prepare("DELETE FROM photo_tags USING TIMESTAMP ? WHERE post_id = ?")
        self._post_tags = session.prepare(f"SELECT {_TAG_COLUMNS} FROM photo_tags WHERE post_id = ?")
        self._authored = session.prepare("SELECT post_id FROM posts_by_author WHERE author_id = ?")
        self._set: dict[tuple[str, str], Any] = {}
        self._unindex: dict[str, Any] = {}
        self._indexed: dict[str, Any] = {}
        for table in (APPROVED, PENDING):
            for op in ("+", "-"):
                self._set[(table, op)] = session.prepare(
                    f"UPDATE {table} USING TIMESTAMP ? SET image_ids = image_ids {op} ? "
                    "WHERE tagged_id = ? AND post_id = ?")
            self._unindex[table] = session.prepare(
                f"DELETE FROM {table} USING TIMESTAMP ? WHERE tagged_id = ? AND post_id = ?")
            self._indexed[table] = session.prepare(f"SELECT post_id, image_ids FROM {table} WHERE tagged_id = ?")
        self._purge_user = {t: session.prepare(f"DELETE FROM {t} USING TIMESTAMP ? WHERE tagged_id = ?")
                            for t in (APPROVED, PENDING)}

    def _writes(self, c: TagChange) -> list[tuple[Any, tuple[Any, ...]]]:
        ts = write_timestamp_us(c.occurred_at, c.action)
        image = {c.image_id}

        def index(table: str, op: str) -> tuple[Any, tuple[Any, ...]]:
            return self._set[(table, op)], (ts, image, c.tagged_id, c.post_id)

        if c.action == "add":
            shown, hidden = (PENDING, APPROVED) if c.pending else (APPROVED, PENDING)
            return [(self._insert, (c.post_id, c.image_id, c.tagged_id, c.tagger_id, c.x, c.y, c.pending,
                                    c.occurred_at, ts)),
                    index(shown, "+"), index(hidden, "-")]
        if c.action == "approve":
            return [(self._approve, (ts, c.post_id, c.image_id, c.tagged_id)),
                    index(APPROVED, "+"), index(PENDING, "-")]
        return [(self._remove, (ts, c.post_id, c.image_id, c.tagged_id)), index(APPROVED, "-"), index(PENDING, "-")]

    async def apply(self, changes: Iterable[TagChange]) -> None:
        """Write every change (order-free: see the module docstring), grouped into a few UNLOGGED batches."""
        await execute_grouped(self.session, [write for c in changes for write in self._writes(c)])

    async def purge_post(self, post_id: str, occurred_at_ms: int) -> None:
        """A deleted post's tags leave its tagged users' lists, then the post's tags go."""
        ts = write_timestamp_us(occurred_at_ms, "remove")
        rows = (await self._run(self._post_tags, (post_id,))).current_rows
        tagged = {row.tagged_id for row in rows}
        await asyncio.gather(*(self._run(self._unindex[t], (ts, user, post_id))
                               for user in tagged for t in (APPROVED, PENDING)))
        await self._run(self._purge_post, (ts, post_id))

    async def purge_user(self, user_id: str, occurred_at_ms: int) -> None:
        """A deleted account: its tags on others' photos, and every tag on its own posts, are gone."""
        ts = write_timestamp_us(occurred_at_ms, "remove")
        for table in (APPROVED, PENDING):
            async for page in pages(self.session, self._indexed[table], (user_id,), _PAGE):
                await asyncio.gather(*(self._run(self._remove, (ts, row.post_id, image_id, user_id))
                                       for row in page for image_id in row.image_ids or ()))
            await self._run(self._purge_user[table], (ts, user_id))
        async for page in pages(self.session, self._authored, (user_id,), _PAGE):
            await asyncio.gather(*(self.purge_post(row.post_id, occurred_at_ms) for row in page))


class PhotoTagReads:
    """Reads of people tags. With ``tagged`` (the API's readers), a page reads tags only for its posts in the
    set of tagged posts (:mod:`sinks.tagged_posts`), and rebuilds that set in the background when it is missing."""

    def __init__(self, session: Session, tagged: TaggedPosts | None = None) -> None:
        self._session = session
        self._tagged = tagged
        self._rebuilding: asyncio.Task[None] | None = None
        self._of_posts = session.prepare(f"SELECT {_TAG_COLUMNS} FROM photo_tags WHERE post_id IN ?")
        self._of_photo = session.prepare(
            f"SELECT {_TAG_COLUMNS} FROM photo_tags WHERE post_id = ? AND image_id = ?")
        self._first = {t: session.prepare(f"SELECT post_id FROM {t} WHERE tagged_id = ? LIMIT ?")
                       for t in (APPROVED, PENDING)}
        self._after = {t: session.prepare(f"SELECT post_id FROM {t} WHERE tagged_id = ? AND post_id < ? LIMIT ?")
                       for t in (APPROVED, PENDING)}

    async def of_posts(self, post_ids: Iterable[str]) -> dict[str, list[PhotoTag]]:
        """Every tag (pending ones included) of each post, one IN query per 100 posts (of those that may have
        tags), run concurrently."""
        wanted = sorted(await self._maybe_tagged(set(post_ids)))
        if not wanted:
            return {}
        results = await asyncio.gather(*(execute(self._session, self._of_posts, (wanted[i:i + _IN_CHUNK],))
                                         for i in range(0, len(wanted), _IN_CHUNK)))
        found: dict[str, list[PhotoTag]] = defaultdict(list)
        for rows in results:
            for tag in _tags(rows.current_rows):
                found[tag.post_id].append(tag)
        return found

    async def _maybe_tagged(self, post_ids: set[str]) -> set[str]:
        """The posts that may have tags: those in the tagged set when it is built, else all of them."""
        if self._tagged is None or not post_ids:
            return post_ids
        try:
            found = await self._tagged.among(post_ids)
        except cache_aside.REDIS_DOWN as exc:
            cache_aside.missed("tagged posts", exc)
            return post_ids
        if found is None:
            self._rebuild_soon()
            return post_ids
        return found

    def _rebuild_soon(self) -> None:
        """One background rebuild of the tagged set per process at a time (kept referenced until it ends)."""
        if self._rebuilding is None or self._rebuilding.done():
            self._rebuilding = asyncio.create_task(self._rebuild())

    async def _rebuild(self) -> None:
        assert self._tagged is not None
        try:
            count = await self._tagged.rebuild(self._session)
            log.info("rebuilt the set of tagged posts from durable state (%d posts)", count)
        except SetLostError as exc:  # the next read starts another
            log.warning("%s", exc)
        except Exception:  # a background repair: the next read tries again
            log.exception("rebuilding the set of tagged posts failed")

    async def of_photo(self, post_id: str, image_id: str) -> list[PhotoTag]:
        """The photo's tags, pending ones included (at most a few dozen: one slice of one partition)."""
        return _tags((await execute(self._session, self._of_photo, (post_id, image_id))).current_rows)

    async def post_ids(self, table: str, tagged_id: str, limit: int, before: str | None) -> list[str]:
        """Up to ``limit`` posts ``tagged_id`` is tagged in (``table``: approved or pending), newest first."""
        if before is None:
            rows = await execute(self._session, self._first[table], (tagged_id, limit))
        else:
            rows = await execute(self._session, self._after[table], (tagged_id, before, limit))
        return [row.post_id for row in rows.current_rows]


def _tags(rows: Iterable[Any]) -> list[PhotoTag]:
    """Rows as tags; a row without its add (an approval that raced a removal) is no tag."""
    return [PhotoTag(r.post_id, r.image_id, r.tagged_id, r.tagger_id, r.x, r.y, bool(r.pending),
                     ms_of(r.tagged_at) if r.tagged_at is not None else 0)
            for r in rows if r.tagger_id is not None and r.x is not None and r.y is not None]
