"""Who uploaded an image and which posts show it: what an image's visibility is derived from.

The uploader is recorded by the API when it hands out the pre-signed upload (a direct, durable write, like
credentials: it must exist before the first byte does). ``post_images`` is written by the posts projector.
"""

from __future__ import annotations

from cassandra.cluster import Session

from sinks.cassandra import execute


class ImageIndex:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._w_upload = session.prepare(
            "INSERT INTO image_uploads (image_id, user_id, content_type, created_at) VALUES (?, ?, ?, ?) "
            "IF NOT EXISTS")
        self._q_uploader = session.prepare("SELECT user_id FROM image_uploads WHERE image_id = ?")
        self._q_posts = session.prepare("SELECT post_id FROM post_images WHERE image_id = ? LIMIT 100")

    async def record_upload(self, image_id: str, user_id: str, content_type: str, created_at_ms: int) -> None:
        """Claim ``image_id`` for ``user_id`` (IF NOT EXISTS: a fresh random id, never re-assigned)."""
        await execute(self._session, self._w_upload, (image_id, user_id, content_type, created_at_ms))

    async def uploader(self, image_id: str) -> str | None:
        row = (await execute(self._session, self._q_uploader, (image_id,))).one()
        return str(row.user_id) if row is not None else None

    async def posts_showing(self, image_id: str) -> list[str]:
        return [str(row.post_id) for row in await execute(self._session, self._q_posts, (image_id,))]
