"""Sizes on demand: each (image, width, format) is rendered once, stored in S3 under a derived key, then served
from the stored copy.

- Rendering is CPU work in libvips; it runs on a small thread pool (libvips releases the GIL), never on the
  event loop.
- Concurrent first requests for the same copy share one render (an in-process single flight keyed by the
  render key). Several API processes may each render a copy once at worst; the copies are identical, so the
  last write is as good as the first.
- An original that fails to decode is remembered (``image_files.broken``): later requests answer 422 from the
  row without fetching or decoding it again.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from cachetools import LRUCache
from prometheus_client import Counter

from api.s3_lane import S3Lane
from photostream.domain.images import RenderFormat, media_type, render_key
from photostream.settings import Settings
from sinks import s3
from sinks.images import ORIGINAL_REPLACED, ImageFile, ImageIndex
from sinks.photos_codec import FormatLimitError, UndecodableImageError, render

logger = logging.getLogger(__name__)

RenderOutcome = Literal["rendered", "undecodable"]
RENDERS = Counter("photostream_image_renders_total", "sizes rendered from an original", ["width", "outcome"])
STORED_HITS = Counter("photostream_image_render_hits_total", "sizes served from a stored copy", ["width"])
HOT_HITS = Counter("photostream_image_hot_hits_total", "sizes served from the process's memory", ["width"])
JOINS = Counter("photostream_image_render_joins_total", "requests that awaited a copy already being fetched or "
                "rendered (single flight)", ["width"])


class MissingOriginalError(LookupError):
    """The completed upload's object is gone from S3."""


class Renderer:
    def __init__(self, s3_client: Any, settings: Settings, index: ImageIndex, lane: S3Lane) -> None:
        self._s3, self._settings, self._index, self._lane = s3_client, settings, index, lane
        self._pool = ThreadPoolExecutor(max_workers=settings.image_render_threads, thread_name_prefix="render")
        self._inflight: dict[str, asyncio.Future[bytes]] = {}
        #: rendered copies are immutable (the key names image, width and format), so memory may keep them
        self._hot: LRUCache[str, bytes] = LRUCache(maxsize=settings.image_hot_cache_bytes, getsizeof=len)
        #: render keys (image, width, format) beyond their format's limits: served as JPEG instead
        self._beyond_format: LRUCache[str, bool] = LRUCache(maxsize=10_000)

    def format_for(self, image_id: str, width: int, fmt: RenderFormat) -> RenderFormat:
        """``fmt``, or JPEG where this size is known to be beyond ``fmt``'s limits (a WebP side over 16,383)."""
        return "jpeg" if render_key(image_id, width, fmt) in self._beyond_format else fmt

    async def copy_in(self, image: ImageFile, width: int, fmt: RenderFormat) -> tuple[bytes, RenderFormat]:
        """:meth:`copy` in ``fmt``, or in JPEG when the size is beyond ``fmt``'s limits (remembered, so the next
        request for it does not decode the original to find out again); returns the format served."""
        try:
            return await self.copy(image, width, fmt), fmt
        except FormatLimitError:
            self._beyond_format[render_key(image.image_id, width, fmt)] = True
            return await self.copy(image, width, "jpeg"), "jpeg"

    def hot(self, image_id: str, width: int, fmt: RenderFormat) -> bytes | None:
        """The copy if this process holds it in memory (no S3 or Cassandra read)."""
        data = self._hot.get(render_key(image_id, width, fmt))
        if data is not None:
            HOT_HITS.labels(str(width)).inc()
        return data

    async def copy(self, image: ImageFile, width: int, fmt: RenderFormat) -> bytes:
        """The bytes of ``image`` at ``width`` in ``fmt``: the stored copy, else rendered once and stored.

        Raises :class:`UndecodableImageError` (remembered) and :class:`MissingOriginalError`.
        """
        if image.broken:
            raise UndecodableImageError(image.broken)
        key = render_key(image.image_id, width, fmt)
        running = self._inflight.get(key)
        if running is not None:
            JOINS.labels(str(width)).inc()
            return await asyncio.shield(running)
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            data = await self._stored_or_rendered(image, key, width, fmt)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a failure nobody else awaited is not logged as "never retrieved"
            raise
        else:
            future.set_result(data)
            if len(data) <= self._hot.maxsize:
                self._hot[key] = data
            return data
        finally:
            del self._inflight[key]

    async def _stored_or_rendered(self, image: ImageFile, key: str, width: int, fmt: RenderFormat) -> bytes:
        stored = await self._lane.run(s3.read, self._s3, self._settings, key)
        if stored is not None:
            STORED_HITS.labels(str(width)).inc()
            return stored
        found = await self._lane.run(s3.read_tagged, self._s3, self._settings, image.object_key)
        if found is None:
            raise MissingOriginalError(image.object_key)
        original, etag = found
        if image.replaced(etag):
            await self._index.mark_broken(image.image_id, ORIGINAL_REPLACED)
            raise UndecodableImageError(ORIGINAL_REPLACED)
        loop = asyncio.get_running_loop()
        try:
            data = await loop.run_in_executor(self._pool, render, original, width, fmt,
                                              self._settings.image_max_pixels)
        except UndecodableImageError as exc:
            RENDERS.labels(str(width), "undecodable").inc()
            logger.info("image %s does not decode: %s", image.image_id, exc)
            await self._index.mark_broken(image.image_id, str(exc))
            raise
        RENDERS.labels(str(width), "rendered").inc()
        await self._lane.run(s3.write, self._s3, self._settings, key, data, media_type(fmt))
        return data

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
