"""Posts view: post-created / post-deleted → Cassandra ``posts`` and ``posts_by_author``.

Idempotent: rows are keyed by post id and written with the event time as cell timestamp. A delete writes a
``deleted`` flag with the delete's (later) time, so replaying the create afterwards cannot bring it back, erases
the caption and the place and unlists the post from its author's posts for good (:data:`FINAL_MICROS`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from cassandra.cluster import Session
from cassandra.query import ValueSequence
from pydantic_core import from_json

from sinks import cache_aside, keys
from sinks.cassandra import execute, execute_grouped, ms_of

_CREATE = (
    "INSERT INTO posts (post_id, author_id, caption, image_ids, visibility, location_name, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
_BY_AUTHOR = "INSERT INTO posts_by_author (author_id, post_id, visibility) VALUES (?, ?, ?) USING TIMESTAMP ?"
_INDEX_IMAGE = "INSERT INTO post_images (image_id, post_id, author_id) VALUES (?, ?, ?) USING TIMESTAMP ?"
_DELETE = "UPDATE posts USING TIMESTAMP ? SET deleted = true WHERE post_id = ?"
#: a deleted post keeps no words of its author's: the caption and the place go with it, for good (stamped
#: :data:`FINAL_MICROS`: a create retried after the delete cannot write them back). An account's purge finds only
#: the posts still listed, so a caption deleted before it stayed in the store for good.
_ERASE = "UPDATE posts USING TIMESTAMP ? SET caption = null, location_name = null WHERE post_id = ?"
_UNLIST = "DELETE FROM posts_by_author USING TIMESTAMP ? WHERE author_id = ? AND post_id = ?"
#: the unlisting's cell timestamp (microseconds, year ~146,000): a deletion is final, so no later create of the
#: same post id (an upstream retry with a new event id, after the delete) can list the post again — the post
#: itself stayed deleted (its flag), but its listing came back and the author's post count with it
FINAL_MICROS = 2**62


class PostSink:
    def __init__(self, session: Session, redis: Any) -> None:
        self._session = session
        self._redis = redis
        self._create = session.prepare(_CREATE)
        self._by_author = session.prepare(_BY_AUTHOR)
        self._index_image = session.prepare(_INDEX_IMAGE)
        self._delete = session.prepare(_DELETE)
        self._unlist = session.prepare(_UNLIST)
        self._erase = session.prepare(_ERASE)

    async def apply(self, topic: str, event: dict[str, Any]) -> None:
        await self.apply_many([(topic, event)])

    async def apply_many(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """Every event's rows in a few grouped requests (each row an upsert stamped with its event's time, so their
        order does not matter), then the deleted posts' cache tombstones in one pipelined round trip. Per event,
        a request and a round trip each cost the projector more CPU than the rows themselves (benchmark 16)."""
        statements: list[tuple[Any, tuple[Any, ...]]] = []
        deleted: list[str] = []
        for topic, event in events:
            statements += self._rows(topic, event)
            if topic == "post-deleted":
                deleted.append(event["post_id"])
        await execute_grouped(self._session, statements)
        if deleted:
            # overwrite any cached copy with a tombstone (read fills use NX, so they cannot resurrect it)
            async with self._redis.pipeline(transaction=False) as pipe:
                for post_id in deleted:
                    pipe.set(keys.post_cache(post_id), keys.POST_TOMBSTONE, ex=keys.POST_CACHE_TTL_S)
                await pipe.execute()

    def _rows(self, topic: str, event: dict[str, Any]) -> list[tuple[Any, tuple[Any, ...]]]:
        micros = int(event["occurred_at"]) * 1000
        if topic == "post-created":
            location = event.get("location") or {}
            return [
                (self._create, (event["post_id"], event["author_id"], event["caption"], event["image_ids"],
                                event["visibility"], location.get("name"), int(event["occurred_at"]), micros)),
                (self._by_author, (event["author_id"], event["post_id"], event["visibility"], micros)),
                # the image index only points at posts; the post row (visibility, deleted) stays the truth
                *((self._index_image, (image_id, event["post_id"], event["author_id"], micros))
                  for image_id in event["image_ids"]),
            ]
        if topic == "post-deleted":
            return [(self._delete, (micros, event["post_id"])), (self._erase, (FINAL_MICROS, event["post_id"])),
                    (self._unlist, (FINAL_MICROS, event["author_id"], event["post_id"]))]
        return []


def post_from_row(row: Any) -> dict[str, Any] | None:
    """The post a row holds. Its images once each: ``image_ids`` is a (non-frozen) list, and a create applied
    twice (a redelivery after a crash, an idempotent re-send) appended its elements again at the same cell time
    (the overwrite's tombstone is one microsecond older), so a post showed each photo twice. A post never holds
    an image twice (the SDK and the API refuse it), so the first of each is the post's."""
    if row is None or row.deleted or row.author_id is None:
        return None
    return {
        "post_id": row.post_id, "author_id": row.author_id, "caption": row.caption,
        "image_ids": list(dict.fromkeys(row.image_ids or ())), "visibility": row.visibility,
        "location_name": row.location_name,
        "created_at": ms_of(row.created_at) if row.created_at else None,
    }


async def read_post(session: Session, post_id: str) -> dict[str, Any] | None:
    """The post from Cassandra (authoritative), or None if unknown or deleted."""
    rows = await execute(session, "SELECT * FROM posts WHERE post_id = %s", (post_id,))
    return post_from_row(rows.one() if rows is not None else None)


async def read_posts_cached(session: Session, redis: Any, post_ids: list[str],
                            reads: Any = None) -> list[dict[str, Any] | None]:
    """Posts in the given order: Redis first (on ``reads``, the API's batching client, when given), then the
    misses from Cassandra in one multi-partition read (a page costs a constant number of round trips). Found
    posts and deleted ones (as a tombstone) are cached with NX, so a concurrent delete's tombstone always wins;
    a post not projected yet is not cached, so it shows up as soon as it is (no negative caching of a post that
    is about to exist)."""
    try:
        cached = await (reads if reads is not None else redis).mget(
            [keys.post_cache(p) for p in post_ids]) if post_ids else []
    except cache_aside.REDIS_DOWN as exc:  # Redis down: every post from Cassandra
        cache_aside.missed("posts", exc)
        cached, redis = [None] * len(post_ids), None
    missing = list(dict.fromkeys(p for p, c in zip(post_ids, cached, strict=True) if c is None))
    rows = await read_post_rows(session, missing)
    fetched = {post_id: post_from_row(row) for post_id, row in rows.items()}
    if rows and redis is not None:
        async with redis.pipeline(transaction=False) as pipe:
            for post_id, post in fetched.items():
                value = json.dumps(post) if post else keys.POST_TOMBSTONE
                pipe.set(keys.post_cache(post_id), value, nx=True, ex=keys.POST_CACHE_TTL_S)
            await pipe.execute()
    result: list[dict[str, Any] | None] = []
    for post_id, raw in zip(post_ids, cached, strict=True):
        if raw is None:
            result.append(fetched.get(post_id))
        else:
            # (pydantic-core's parser, already here for the API's models: a third of json.loads's ~1.7 µs a post,
            # twenty posts a feed page)
            result.append(None if raw == keys.POST_TOMBSTONE else from_json(raw))
    return result


#: posts per multi-partition read
_IN_CHUNK = 100


async def read_post_rows(session: Session, post_ids: list[str]) -> dict[str, Any]:
    """The ``posts`` rows that exist among ``post_ids`` (deleted ones included), one query per 100 ids."""
    chunks = [post_ids[i:i + _IN_CHUNK] for i in range(0, len(post_ids), _IN_CHUNK)]
    results = await asyncio.gather(*(execute(session, f"SELECT {_COLUMNS} FROM posts WHERE post_id IN %s",
                                             (ValueSequence(chunk),)) for chunk in chunks))
    return {row.post_id: row for rows in results for row in rows.current_rows}


_COLUMNS = "post_id, author_id, caption, image_ids, visibility, location_name, created_at, deleted"
