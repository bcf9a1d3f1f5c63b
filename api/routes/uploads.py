"""Photo uploads straight to S3 with pre-signed URLs: the API never carries the bytes."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentUser, ResourcesDep, SettingsDep, parse_id
from api.errors import ApiError
from producers.ids import new_id, now_ms
from sinks import s3

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
    url = await asyncio.to_thread(s3.presigned_put, resources.s3, settings, image_key(image_id),
                                  request.content_type)
    return UploadTicket(image_id=image_id, upload_url=url, content_type=request.content_type,
                        expires_at=now_ms() + settings.s3_presign_expiry_s * 1000)


@router.get("/images/{image_id}")
async def get_image(image_id: str, resources: ResourcesDep, settings: SettingsDep) -> RedirectResponse:
    """A redirect to a short-lived signed GET of the original."""
    parse_id(image_id, "image_id")
    key = image_key(image_id)
    try:
        await asyncio.to_thread(resources.s3.head_object, Bucket=settings.s3_bucket, Key=key)
    except Exception:
        raise ApiError(404, "not_found", "no such image", "image_id") from None
    url = await asyncio.to_thread(s3.presigned_get, resources.s3, settings, key)
    return RedirectResponse(url, status_code=307)
