"""Posts view: post-created / post-deleted → Cassandra ``posts`` and ``posts_by_author``.

Idempotent: rows are keyed by post id and written with the event time as cell timestamp. A delete writes a
``deleted`` flag with the delete's (later) time, so replaying the create afterwards cannot bring it back.
"""

from __future__ import annotations

from typing import Any

from cassandra.cluster import Session

from sinks.cassandra import execute

_CREATE = (
    "INSERT INTO posts (post_id, author_id, caption, image_ids, visibility, location_name, created_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?"
)
_BY_AUTHOR = "INSERT INTO posts_by_author (author_id, post_id) VALUES (?, ?) USING TIMESTAMP ?"
_DELETE = "UPDATE posts USING TIMESTAMP ? SET deleted = true WHERE post_id = ?"
_UNLIST = "DELETE FROM posts_by_author USING TIMESTAMP ? WHERE author_id = ? AND post_id = ?"


class PostSink:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._create = session.prepare(_CREATE)
        self._by_author = session.prepare(_BY_AUTHOR)
        self._delete = session.prepare(_DELETE)
        self._unlist = session.prepare(_UNLIST)

    async def apply(self, topic: str, event: dict[str, Any]) -> None:
        micros = int(event["occurred_at"]) * 1000
        if topic == "post-created":
            location = event.get("location") or {}
            await execute(self._session, self._create, (
                event["post_id"], event["author_id"], event["caption"], event["image_ids"], event["visibility"],
                location.get("name"), int(event["occurred_at"]), micros,
            ))
            await execute(self._session, self._by_author, (event["author_id"], event["post_id"], micros))
        elif topic == "post-deleted":
            await execute(self._session, self._delete, (micros, event["post_id"]))
            await execute(self._session, self._unlist, (micros, event["author_id"], event["post_id"]))


async def read_post(session: Session, post_id: str) -> dict[str, Any] | None:
    """The post, or None if unknown or deleted."""
    rows = await execute(session, "SELECT * FROM posts WHERE post_id = %s", (post_id,))
    row = rows.one() if rows is not None else None
    if row is None or row.deleted or row.author_id is None:
        return None
    return {
        "post_id": row.post_id, "author_id": row.author_id, "caption": row.caption,
        "image_ids": list(row.image_ids or []), "visibility": row.visibility, "location_name": row.location_name,
        "created_at": int(row.created_at.timestamp() * 1000) if row.created_at else None,
    }
