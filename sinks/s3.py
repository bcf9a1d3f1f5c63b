"""S3 (SeaweedFS locally): the photo bucket, pre-signed uploads and downloads, and the rendered copies.

Every function is blocking (boto3); the API calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from photostream.settings import Settings


def client(settings: Settings) -> Any:
    """A boto3 S3 client: signature v4, path-style addressing (works with SeaweedFS and AWS alike)."""
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key,
        aws_secret_access_key=settings.s3_secret_key.get_secret_value(),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 2}, connect_timeout=3, read_timeout=10,
                      max_pool_connections=32),
    )


@dataclass(frozen=True)
class PresignedPost:
    url: str
    fields: dict[str, str]


def presigned_post(s3: Any, settings: Settings, key: str, content_type: str, max_bytes: int) -> PresignedPost:
    """A browser-style POST upload of exactly ``key`` whose policy S3 itself enforces: the key, the
    Content-Type and ``content-length-range`` (1..``max_bytes``) are signed, so a larger body is refused by
    the store (``EntityTooLarge``) and never lands. SeaweedFS honours all three (``tests/integration/
    test_photos.py`` proves it); a pre-signed PUT carries no size limit unless Content-Length is signed."""
    post = s3.generate_presigned_post(
        settings.s3_bucket, key, Fields={"Content-Type": content_type},
        Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
        ExpiresIn=settings.s3_presign_expiry_s,
    )
    return PresignedPost(str(post["url"]), {k: str(v) for k, v in post["fields"].items()})


def presigned_get(s3: Any, settings: Settings, key: str) -> str:
    return str(s3.generate_presigned_url(
        "get_object", Params={"Bucket": settings.s3_bucket, "Key": key}, ExpiresIn=settings.s3_presign_expiry_s,
    ))


def size_of(s3: Any, settings: Settings, key: str) -> int | None:
    """The object's size, or None when it does not exist."""
    found = head(s3, settings, key)
    return found[0] if found is not None else None


def head(s3: Any, settings: Settings, key: str) -> tuple[int, str] | None:
    """The object's size and ETag (which names its bytes), or None when it does not exist."""
    answer = _answer(s3.head_object, settings, key)
    return (int(answer["ContentLength"]), str(answer.get("ETag", ""))) if answer is not None else None


def read_tagged(s3: Any, settings: Settings, key: str) -> tuple[bytes, str] | None:
    """The object's bytes and the ETag they were read under, or None when it does not exist."""
    answer = _answer(s3.get_object, settings, key)
    return (bytes(answer["Body"].read()), str(answer.get("ETag", ""))) if answer is not None else None


def read(s3: Any, settings: Settings, key: str, first_bytes: int | None = None) -> bytes | None:
    """The object's bytes (only the first ``first_bytes`` if given), or None when it does not exist."""
    extra = {"Range": f"bytes=0-{first_bytes - 1}"} if first_bytes else {}
    answer = _answer(s3.get_object, settings, key, **extra)
    return bytes(answer["Body"].read()) if answer is not None else None


def _answer(call: Any, settings: Settings, key: str, **extra: Any) -> Any:
    """``call``'s answer for the object, or None when it does not exist."""
    try:
        return call(Bucket=settings.s3_bucket, Key=key, **extra)
    except ClientError as exc:
        if _missing(exc):
            return None
        raise


def write(s3: Any, settings: Settings, key: str, data: bytes, content_type: str) -> None:
    s3.put_object(Bucket=settings.s3_bucket, Key=key, Body=data, ContentType=content_type)


def delete(s3: Any, settings: Settings, key: str) -> None:
    """Remove ``key``; an absent key is not an error (S3's DELETE is idempotent)."""
    s3.delete_object(Bucket=settings.s3_bucket, Key=key)


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int
    #: when the store last wrote the object (epoch ms)
    modified_ms: int


def object_pages(s3: Any, settings: Settings, prefix: str) -> Iterator[list[StoredObject]]:
    """Every object under ``prefix``, one page of up to 1,000 keys per request (bounded memory)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=settings.s3_bucket, Prefix=prefix)
    for page in pages:
        yield [StoredObject(str(item["Key"]), int(item["Size"]), int(item["LastModified"].timestamp() * 1000))
               for item in page.get("Contents", [])]


def keys_under(s3: Any, settings: Settings, prefix: str) -> list[str]:
    """Every object key under ``prefix`` (an image's sizes, an account's originals: a handful, held at once)."""
    return [o.key for page in object_pages(s3, settings, prefix) for o in page]


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in ("404", "NoSuchKey", "NotFound")
