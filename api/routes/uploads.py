"""Photo uploads straight to S3 with pre-signed URLs: the API never carries the bytes."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentUser, OptionalUser, ResourcesDep, SettingsDep, parse_id
from api.errors import ApiError
from api.visibility import visible_posts
from producers.ids import new_id, now_ms
from sinks import s3
from sinks.posts import read_posts_cached

router = APIRouter(tags=["uploads"])
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content_type: Literal["image/jpeg", "image/png", "image/webp", "image/heic"] = "image/jpeg"
    size_bytes: int = Field(default=1, gt=0, le=MAX_UPLOAD_BYTES)


class UploadTicket(BaseModel):
    image_id: str
    upload_url: str
    expires_at: int
    content_type: str


def image_key(image_id: str) -> str:
    return f"images/{image_id}"


@router.post("/uploads", response_model=UploadTicket, status_code=201)
async def create_upload(user: CurrentUser, resources: ResourcesDep, settings: SettingsDep,
                        body: UploadRequest | None = None) -> UploadTicket:
    """A pre-signed PUT for a new image id; the client sends the bytes to S3 directly."""
    request = body or UploadRequest()
    image_id = new_id()
    await resources.images.record_upload(image_id, user, request.content_type, now_ms())
    url = await asyncio.to_thread(s3.presigned_put, resources.s3, settings, image_key(image_id),
                                  request.content_type)
    return UploadTicket(image_id=image_id, upload_url=url, content_type=request.content_type,
                        expires_at=now_ms() + settings.s3_presign_expiry_s * 1000)


async def may_see_image(resources: Any, viewer: str | None, image_id: str) -> bool:
    """An image is as visible as the most visible post showing it; its uploader always sees it."""
    if viewer is not None and await resources.images.uploader(image_id) == viewer:
        return True
    post_ids = await resources.images.posts_showing(image_id)
    posts = await read_posts_cached(resources.session, resources.redis, post_ids)
    return any(p is not None for p in await visible_posts(resources.graph, viewer, posts))


@router.get("/images/{image_id}")
async def get_image(image_id: str, viewer: OptionalUser, resources: ResourcesDep,
                    settings: SettingsDep) -> RedirectResponse:
    """A redirect to a short-lived signed GET of the original, for callers who may see the image; anyone
    else gets the same 404 as for an image that does not exist."""
    parse_id(image_id, "image_id")
    if not await may_see_image(resources, viewer, image_id):
        raise ApiError(404, "not_found", "no such image", "image_id")
    key = image_key(image_id)
    try:
        await asyncio.to_thread(resources.s3.head_object, Bucket=settings.s3_bucket, Key=key)
    except Exception:
        raise ApiError(404, "not_found", "no such image", "image_id") from None
    url = await asyncio.to_thread(s3.presigned_get, resources.s3, settings, key)
    # the signed URL is short-lived and may be the viewer's own: shared caches must not keep the redirect
    return RedirectResponse(url, status_code=307, headers={"Cache-Control": "private, max-age=60"})
