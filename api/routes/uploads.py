"""Photo uploads straight to S3: the API never carries the bytes.

1. ``POST /uploads`` claims a fresh image id for the caller and answers a pre-signed POST for
   ``photos/{user}/{image}`` whose policy S3 itself enforces (key, Content-Type, 1..``upload_max_bytes``).
2. The client sends the bytes to S3.
3. ``POST /uploads/{image_id}/complete``: the API checks the object exists, is the caller's, is within the
   limit and really is an image of an allowed type (magic number and header, never the name or the declared
   type), records the completed upload and publishes ``photo-uploaded``. Only completed uploads may be
   attached to a post (``api.routes.writes.create_post``), chosen as an avatar (``PATCH /users/me``) or
   rendered (``api.routes.images``).

A refused object (too large, not an image of an allowed type, too many pixels) is deleted from S3 at once: it can
never be shown, and keeping it would only cost storage (a repeated completion then answers 409
``not_uploaded``). A completion by someone other than the uploader is refused without touching the object: the
uploader may still complete it. Objects whose upload is never reported are deleted by
``photostream sweep-uploads`` (``sinks.upload_sweeper``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api import ratelimit
from api.consistency import ConsistencyToken, token_key
from api.deps import CurrentUser, ResourcesDep, SettingsDep, parse_id
from api.errors import ApiError
from api.routes import images
from photostream.domain.images import ContentType, object_key
from producers import events
from producers.ids import new_id, now_ms
from sinks import s3
from sinks.images import ImageFile
from sinks.photos_codec import (
    JPEG_MAX_SIDE,
    Probe,
    TooManyPixelsError,
    UndecodableImageError,
    check_pixels,
    probe,
)

logger = logging.getLogger(__name__)
router = APIRouter(tags=["uploads"])
router.include_router(images.router)
#: how much of an object completion reads first: every supported format keeps its dimensions near the front.
#: A JPEG may put any number of 64 KiB metadata segments before them, though (a phone's portrait photo carries
#: its depth map as XMP extension segments): when this much does not decode, the whole object is read
PROBE_BYTES = 256 * 1024


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content_type: ContentType = "image/jpeg"
    size_bytes: int | None = Field(default=None, gt=0, description="optional: refused at once if over the limit")


class UploadTicket(BaseModel):
    image_id: str
    method: str = "POST"
    upload_url: str
    fields: dict[str, str] = Field(description="form fields to send before the file, as S3 POST uploads want")
    expires_at: int
    max_bytes: int
    content_type: str


class CompletedUpload(BaseModel):
    image_id: str
    content_type: str
    size_bytes: int
    width: int
    height: int
    event_id: str
    token: str = Field(description="consistency token of the photo-uploaded event")


@router.post("/uploads", response_model=UploadTicket, status_code=201)
async def create_upload(user: CurrentUser, resources: ResourcesDep, settings: SettingsDep,
                        body: UploadRequest | None = None) -> UploadTicket:
    """A pre-signed POST for a new image id; the client sends the bytes to S3 directly."""
    request = body or UploadRequest()
    if request.size_bytes is not None and request.size_bytes > settings.upload_max_bytes:
        raise ApiError(413, "too_large", f"photos are limited to {settings.upload_max_bytes} bytes", "size_bytes")
    limit = ratelimit.Limit(settings.rate_limit_uploads_per_minute, settings.rate_limit_uploads_burst)
    decision = await ratelimit.take(resources.redis, user, "upload", limit)
    if not decision.allowed:
        raise ApiError(429, "rate_limited", f"too many uploads; retry in {decision.retry_after_s}s",
                       headers={"Retry-After": str(decision.retry_after_s)})
    image_id = new_id()
    await resources.images.record_upload(image_id, user, request.content_type, now_ms())
    post = await resources.s3_lane.run(s3.presigned_post, resources.s3, settings, object_key(user, image_id),
                                       request.content_type, settings.upload_max_bytes)
    return UploadTicket(image_id=image_id, upload_url=post.url, fields=post.fields, content_type=request.content_type,
                        max_bytes=settings.upload_max_bytes,
                        expires_at=now_ms() + settings.s3_presign_expiry_s * 1000)


@router.post("/uploads/{image_id}/complete", response_model=CompletedUpload)
async def complete_upload(image_id: str, user: CurrentUser, resources: ResourcesDep,
                          settings: SettingsDep) -> CompletedUpload:
    """Check the uploaded object and publish ``photo-uploaded``. Repeating it is harmless (the event is published
    again from what the first completion recorded: consumers are idempotent), which is also how a client
    retries after a 503; the object is checked once (each check could read 20 MiB from S3), and completions
    take from the user's write bucket."""
    parse_id(image_id, "image_id")
    claim = await resources.images.upload(image_id)
    if claim is None:
        raise ApiError(404, "not_found", "no such upload", "image_id")
    if claim.user_id != user:
        raise ApiError(403, "forbidden", "only the uploader can complete an upload")
    limit = ratelimit.Limit(settings.rate_limit_writes_per_minute, settings.rate_limit_writes_burst)
    taken = await ratelimit.take(resources.redis, user, "write", limit)
    if not taken.allowed:
        raise ApiError(429, "rate_limited", f"too many writes; retry in {taken.retry_after_s}s",
                       headers={"Retry-After": str(taken.retry_after_s)})
    image = await resources.images.file(image_id)
    if image is None:
        image = await _checked(resources, settings, user, image_id)
        await resources.images.record_completion(image)
    elif image.broken:  # completed, then found not to decode when it was first rendered
        raise ApiError(422, "not_an_image", f"the image cannot be decoded: {image.broken}", "image_id")
    event = events.photo_uploaded(image_id=image_id, user_id=user, object_key=image.object_key,
                                  content_type=image.content_type, size_bytes=image.size_bytes)
    result = await resources.publisher.publish_async(event)
    token = ConsistencyToken(result.topic, result.partition, result.offset).encode(token_key(settings))
    return CompletedUpload(image_id=image_id, content_type=image.content_type, size_bytes=image.size_bytes,
                           width=image.width, height=image.height, event_id=event.event_id, token=token)


async def _checked(resources: Any, settings: Any, user: str, image_id: str) -> ImageFile:
    """The uploaded object's facts, or the error that explains why it is refused."""
    key = object_key(user, image_id)
    stored = await resources.s3_lane.run(s3.head, resources.s3, settings, key)
    if stored is None:
        raise ApiError(409, "not_uploaded", "nothing was uploaded for this image yet", "image_id")
    size, etag = stored
    if size > settings.upload_max_bytes:  # S3 refuses these; an object put there some other way is refused too
        await _discard(resources, settings, key)
        raise ApiError(413, "too_large", f"photos are limited to {settings.upload_max_bytes} bytes")
    try:
        found = await _probed(resources, settings, key, size)
    except TooManyPixelsError as exc:
        await _discard(resources, settings, key)
        raise ApiError(422, "too_many_pixels", str(exc), "image_id") from None
    except UndecodableImageError as exc:
        await _discard(resources, settings, key)
        raise ApiError(422, "not_an_image", str(exc), "image_id") from None
    if max(found.width, found.height) > JPEG_MAX_SIDE:  # no size of it could be rendered in any format
        await _discard(resources, settings, key)
        raise ApiError(422, "too_large", f"image_id: at most {JPEG_MAX_SIDE} pixels a side "
                       f"({found.width}×{found.height})", "image_id")
    try:  # all of its pixels, not only the header (a truncated photo's header decodes)
        whole = await resources.s3_lane.run(s3.read, resources.s3, settings, key, size)
        await asyncio.to_thread(check_pixels, whole or b"", settings.image_max_pixels)
    except UndecodableImageError as exc:
        await _discard(resources, settings, key)
        raise ApiError(422, "not_an_image", str(exc), "image_id") from None
    # the ETag pins what was checked: renders refuse an original replaced afterwards (the ticket stays usable)
    return ImageFile(image_id=image_id, user_id=user, object_key=key, content_type=found.content_type,
                     size_bytes=size, width=found.width, height=found.height, completed_at_ms=now_ms(), etag=etag)


async def _probed(resources: Any, settings: Any, key: str, size: int) -> Probe:
    """The object's type and dimensions from its first :data:`PROBE_BYTES`, or from all of it when those do
    not decode and there is more (metadata before the frame header)."""
    head = await resources.s3_lane.run(s3.read, resources.s3, settings, key, PROBE_BYTES)
    try:
        return probe(head or b"", settings.image_max_pixels)
    except UndecodableImageError:
        if size <= PROBE_BYTES:
            raise
    whole = await resources.s3_lane.run(s3.read, resources.s3, settings, key, size)
    return probe(whole or b"", settings.image_max_pixels)


async def _discard(resources: Any, settings: Any, key: str) -> None:
    """Delete a refused object (best effort: the sweeper takes what a failure here leaves behind)."""
    try:
        await resources.s3_lane.run(s3.delete, resources.s3, settings, key)
    except (BotoCoreError, ClientError):  # the refusal stands whether or not the store answered
        logger.warning("could not delete the refused upload %s", key, exc_info=True)


async def require_own_completed(resources: Any, user: str, image_ids: list[str], field: str = "image_ids") -> None:
    """Posts (``image_ids``) and avatars (``avatar_image_id``) take only images the caller uploaded and
    completed: someone else's image is a 403, an unknown or unfinished one a 422 naming ``field``, and so is one
    the renderer found damaged (a post showing it was a 422 for every viewer). One query when every image is in
    order."""
    completed = await resources.images.files(image_ids)
    if any(image.user_id != user for image in completed.values()):
        raise ApiError(403, "forbidden", "only your own photos may be used here", field)
    for image_id in (i for i in image_ids if i not in completed):
        claim = await resources.images.upload(image_id)
        if claim is not None and claim.user_id != user:
            raise ApiError(403, "forbidden", "only your own photos may be used here", field)
        state = "was never uploaded" if claim is None else "has not completed (POST /uploads/{id}/complete)"
        raise ApiError(422, "invalid", f"{field}: {image_id} {state}", field)
    for image_id, image in completed.items():  # (completion checks the header; rendering found the rest damaged)
        if image.broken:
            raise ApiError(422, "not_an_image", f"{field}: {image_id} cannot be shown ({image.broken})", field)
