"""Who uploaded an image, whether the upload completed, and which posts show it.

The uploader is recorded by the API when it hands out the pre-signed upload (a direct, durable write, like
credentials: it must exist before the first byte does). The completion row (``image_files``) is written by the
API after it has checked the object in S3 and before it publishes ``photo-uploaded``: ``POST /posts`` must see
it at once (read-your-writes without waiting for a processor), and it is a fact about S3, not a view of an
event. ``uploads_by_user`` is the same fact found by owner (a user's photos to choose an avatar from), written
with it. ``post_images`` is written by the posts projector.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cassandra.cluster import Session

from sinks.cassandra import execute, ms_of


@dataclass(frozen=True)
class Upload:
    """A claimed image id: who may upload its bytes, and the type they declared."""

    user_id: str
    content_type: str


@dataclass(frozen=True)
class ImageFile:
    """A completed upload whose object was checked: its real type and dimensions."""

    image_id: str
    user_id: str
    object_key: str
    content_type: str
    size_bytes: int
    width: int
    height: int
    completed_at_ms: int
    broken: str | None = None
    #: the original's S3 ETag when its completion checked it (None: completed before it was kept)
    etag: str | None = None

    def replaced(self, etag: str) -> bool:
        """Was the original read under ``etag`` replaced since it was checked (the same ticket, used again)?"""
        return self.etag is not None and etag != self.etag


#: why an original whose bytes changed after its completion renders and derives nothing (remembered as broken)
ORIGINAL_REPLACED = "the original was replaced after it was checked"
_FILE_COLUMNS = ("image_id, user_id, object_key, content_type, size_bytes, width, height, completed_at, broken, "
                 "etag")


class ImageIndex:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._w_upload = session.prepare(
            "INSERT INTO image_uploads (image_id, user_id, content_type, created_at) VALUES (?, ?, ?, ?) "
            "IF NOT EXISTS")
        self._q_upload = session.prepare("SELECT user_id, content_type FROM image_uploads WHERE image_id = ?")
        self._q_uploads = session.prepare("SELECT image_id FROM image_uploads WHERE image_id IN ?")
        self._q_posts = session.prepare("SELECT post_id FROM post_images WHERE image_id = ? LIMIT 100")
        self._w_file = session.prepare(
            "INSERT INTO image_files (image_id, user_id, object_key, content_type, size_bytes, width, height, "
            "completed_at, etag) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
        self._q_file = session.prepare(f"SELECT {_FILE_COLUMNS} FROM image_files WHERE image_id = ?")
        self._q_files = session.prepare(f"SELECT {_FILE_COLUMNS} FROM image_files WHERE image_id IN ?")
        self._w_broken = session.prepare("UPDATE image_files SET broken = ? WHERE image_id = ?")
        self._w_by_user = session.prepare(
            "INSERT INTO uploads_by_user (user_id, image_id, width, height, completed_at) VALUES (?, ?, ?, ?, ?)")
        self._q_by_user = session.prepare("SELECT image_id FROM uploads_by_user WHERE user_id = ? LIMIT ?")
        self._q_by_user_before = session.prepare(
            "SELECT image_id FROM uploads_by_user WHERE user_id = ? AND image_id < ? LIMIT ?")

    async def record_upload(self, image_id: str, user_id: str, content_type: str, created_at_ms: int) -> None:
        """Claim ``image_id`` for ``user_id`` (IF NOT EXISTS: a fresh random id, never re-assigned)."""
        await execute(self._session, self._w_upload, (image_id, user_id, content_type, created_at_ms))

    async def upload(self, image_id: str) -> Upload | None:
        row = (await execute(self._session, self._q_upload, (image_id,))).one()
        return Upload(str(row.user_id), str(row.content_type)) if row is not None else None

    async def claimed(self, image_ids: list[str]) -> set[str]:
        """Which of ``image_ids`` were claimed here (a ticket issued in this keyspace; one query)."""
        rows = await execute(self._session, self._q_uploads, (list(dict.fromkeys(image_ids)),))
        return {str(row.image_id) for row in rows}

    async def uploader(self, image_id: str) -> str | None:
        claimed = await self.upload(image_id)
        return claimed.user_id if claimed is not None else None

    async def posts_showing(self, image_id: str) -> list[str]:
        return [str(row.post_id) for row in await execute(self._session, self._q_posts, (image_id,))]

    async def record_completion(self, image: ImageFile) -> None:
        """Absolute upserts of facts read from S3: a repeated completion writes the same rows again. The owner's
        row goes first: a row there without its ``image_files`` row is skipped by :meth:`completed_by`."""
        await execute(self._session, self._w_by_user, (
            image.user_id, image.image_id, image.width, image.height, image.completed_at_ms))
        await execute(self._session, self._w_file, (
            image.image_id, image.user_id, image.object_key, image.content_type, image.size_bytes, image.width,
            image.height, image.completed_at_ms, image.etag))

    async def file(self, image_id: str) -> ImageFile | None:
        row = (await execute(self._session, self._q_file, (image_id,))).one()
        return _file_of(row) if row is not None else None

    async def files(self, image_ids: list[str]) -> dict[str, ImageFile]:
        """The completed uploads among ``image_ids`` (one query)."""
        rows = await execute(self._session, self._q_files, (list(dict.fromkeys(image_ids)),))
        return {str(row.image_id): _file_of(row) for row in rows}

    async def completed_by(self, user_id: str, limit: int,
                           before: str | None = None) -> tuple[list[ImageFile], str | None]:
        """A page of the user's completed uploads, newest first, older than the id ``before``: their
        ``image_files`` rows (two queries), and the id the next page starts before (None on the last page)."""
        rows = await execute(self._session, *((self._q_by_user, (user_id, limit)) if before is None else
                                              (self._q_by_user_before, (user_id, before, limit))))
        ids = [str(row.image_id) for row in rows]
        found = await self.files(ids) if ids else {}
        return [found[i] for i in ids if i in found], ids[-1] if len(ids) == limit else None

    async def mark_broken(self, image_id: str, reason: str) -> None:
        await execute(self._session, self._w_broken, (reason, image_id))


def _file_of(row: Any) -> ImageFile:
    return ImageFile(
        image_id=str(row.image_id), user_id=str(row.user_id), object_key=str(row.object_key),
        content_type=str(row.content_type), size_bytes=int(row.size_bytes), width=int(row.width),
        height=int(row.height), completed_at_ms=ms_of(row.completed_at) if row.completed_at else 0,
        broken=row.broken, etag=row.etag,
    )
