"""S3 (SeaweedFS locally): the photo bucket, pre-signed uploads and downloads."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config

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
                      retries={"max_attempts": 2}, connect_timeout=3, read_timeout=10),
    )


def presigned_put(s3: Any, settings: Settings, key: str, content_type: str) -> str:
    return str(s3.generate_presigned_url(
        "put_object", Params={"Bucket": settings.s3_bucket, "Key": key, "ContentType": content_type},
        ExpiresIn=settings.s3_presign_expiry_s,
    ))


def presigned_get(s3: Any, settings: Settings, key: str) -> str:
    return str(s3.generate_presigned_url(
        "get_object", Params={"Bucket": settings.s3_bucket, "Key": key}, ExpiresIn=settings.s3_presign_expiry_s,
    ))
