"""The photos processor: photo-uploaded → the feed and grid sizes rendered ahead of time, and a blurhash.

A photo is usually posted seconds after its upload completes; rendering its feed size (1080) and the profile
grid's (320) in both formats now, into the same S3 keys the API's sizes-on-demand read
(``photostream.domain.images.render_key``), makes the first feed view a stored-copy hit instead of a render on
the request path. The blurhash placeholder goes to ``photo_derivatives``, which hydration reads so items carry
it.

Idempotent under replay: an image whose row already lists every width is skipped without touching S3; a copy
already in S3 (a batch retried after a crash half-way) is not rendered again; every value written is a pure
function of the original. An original that does not decode is remembered as broken (as the API does), never
dead-lettered: the record is fine, the photo is not. Rendering is CPU work on a small thread pool (libvips
releases the GIL), never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, get_args

from prometheus_client import Counter

from photostream.domain.images import FEED_WIDTH, RenderFormat, media_type, object_key, render_key
from photostream.settings import Settings
from producers.ids import is_recurring_id, now_ms
from sinks import offsets, s3
from sinks.images import ORIGINAL_REPLACED, ImageIndex
from sinks.photo_derivatives import PhotoDerivatives
from sinks.photos_codec import FormatLimitError, UndecodableImageError, render
from sinks.placeholders import placeholder
from streams.engine.records import Record, Reject, accepted

log = logging.getLogger(__name__)

#: the profile grid's cell (three across a phone screen, at 2-3x pixel density)
GRID_WIDTH = 320
#: rendered ahead of time, each in every format a client may ask for
PRERENDER_WIDTHS: tuple[int, ...] = (GRID_WIDTH, FEED_WIDTH)
FORMATS: tuple[RenderFormat, ...] = get_args(RenderFormat)

Outcome = Literal["rendered", "stored", "undecodable", "missing", "beyond_format", "replaced"]
PRERENDERS = Counter("photostream_image_prerenders_total", "sizes rendered ahead of time by the photos processor",
                     ["width", "outcome"])


@dataclass(frozen=True)
class Uploaded:
    image_id: str
    object_key: str


def uploaded_of(event: dict[str, Any]) -> Uploaded:
    """The upload an event announces; ``ValueError`` (→ DLQ) for one the API could not have published."""
    image_id, user_id = event["image_id"], event["user_id"]
    if not (is_recurring_id(image_id) and is_recurring_id(user_id)):
        raise ValueError("image_id/user_id: not ids")
    if event["object_key"] != object_key(user_id, image_id):
        raise ValueError("object_key: not the uploader's key for this image")
    return Uploaded(image_id, event["object_key"])


class PhotoDerivativesProcessor:
    name: str = "photos"
    topics: tuple[str, ...] = ("photo-uploaded",)
    #: uploads arrive one by one and a post follows within seconds: do not wait for company
    flush_interval_s: float = 0.05

    def __init__(self, settings: Settings, s3_client: Any, derivatives: PhotoDerivatives, images: ImageIndex,
                 redis: Any) -> None:
        self._settings, self._s3, self._derivatives, self._images, self._redis = (
            settings, s3_client, derivatives, images, redis)
        self._pool = ThreadPoolExecutor(max_workers=settings.image_render_threads, thread_name_prefix="prerender")

    async def process(self, batch: list[Record], reject: Reject) -> None:
        uploads = {u.image_id: u for u in accepted(batch, lambda r: uploaded_of(r.value), reject)}
        done = await self._derivatives.derived(list(uploads)) if uploads else {}
        for upload in uploads.values():
            if done.get(upload.image_id, set()) >= set(PRERENDER_WIDTHS):
                continue  # a replay: everything is in place
            await self._derive(upload)
        await offsets.advance_all(self._redis, self.name, ((r.topic, r.partition, r.offset) for r in batch))

    async def _derive(self, upload: Uploaded) -> None:
        found = await asyncio.to_thread(s3.read_tagged, self._s3, self._settings, upload.object_key)
        if found is None:
            PRERENDERS.labels("-", "missing").inc()
            log.warning("photos: the original of %s is gone; nothing to derive", upload.image_id)
            return
        original, etag = found
        checked = await self._images.file(upload.image_id)
        if checked is not None and checked.replaced(etag):  # the same ticket used again after the completion
            PRERENDERS.labels("-", "replaced").inc()
            await self._images.mark_broken(upload.image_id, ORIGINAL_REPLACED)
            return
        loop = asyncio.get_running_loop()
        try:
            for width in PRERENDER_WIDTHS:
                for fmt in FORMATS:
                    await self._prerender(loop, upload.image_id, original, width, fmt)
            blurhash = await loop.run_in_executor(self._pool, placeholder, original)
        except UndecodableImageError as exc:
            PRERENDERS.labels("-", "undecodable").inc()
            log.info("photos: %s does not decode: %s", upload.image_id, exc)
            await self._images.mark_broken(upload.image_id, str(exc))
            return
        await self._derivatives.record(upload.image_id, blurhash, set(PRERENDER_WIDTHS), now_ms())
        if await self._images.file(upload.image_id) is None:
            await self._undo(upload.image_id)

    async def _undo(self, image_id: str) -> None:
        """The image was purged with its account while it was being derived: what was just written goes too.
        (The purge deletes the image's rows before it lists its sizes, so either its listing finds what was
        written before this check, or this check finds the rows gone; the sizes stayed in S3 for good.)"""
        PRERENDERS.labels("-", "purged").inc()
        written = await asyncio.to_thread(s3.keys_under, self._s3, self._settings, f"renders/{image_id}/")
        for key in written:
            await asyncio.to_thread(s3.delete, self._s3, self._settings, key)
        await self._derivatives.forget(image_id)

    async def _prerender(self, loop: asyncio.AbstractEventLoop, image_id: str, original: bytes, width: int,
                         fmt: RenderFormat) -> None:
        key = render_key(image_id, width, fmt)
        if await asyncio.to_thread(s3.size_of, self._s3, self._settings, key) is not None:
            PRERENDERS.labels(str(width), "stored").inc()
            return
        try:
            data = await loop.run_in_executor(self._pool, render, original, width, fmt,
                                              self._settings.image_max_pixels)
        except FormatLimitError:  # too tall for WebP at this width (a long screenshot): the API serves JPEG
            PRERENDERS.labels(str(width), "beyond_format").inc()
            return
        await asyncio.to_thread(s3.write, self._s3, self._settings, key, data, media_type(fmt))
        PRERENDERS.labels(str(width), "rendered").inc()
