"""Signed image links: how a private or followers-only photo is shown without a bearer token.

An ``<img>`` tag sends no Authorization header, so feed and post items carry, for photos that are not public,
a link whose HMAC covers the path, the width and the expiry (``photostream.domain.images.sign_link``). Anyone
holding the link may fetch that width until it expires; changing any part of it is a 403. Public photos get
plain, permanent, CDN-cacheable URLs instead.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from photostream.domain.images import FEED_WIDTH, link_query, sign_link, verify_link
from photostream.settings import Settings

#: where the API serves an image (``api.routes.images``); URLs are derived at read time, never stored
IMAGE_PATH = "/api/v1/images/{image_id}"
_IMAGE_PATH_HEAD = IMAGE_PATH.removesuffix("{image_id}")
_KEY_CONTEXT = b"photostream image links v1"


def link_key(settings: Settings) -> bytes:
    """The HMAC key: ``image_link_secret`` if set, else derived from the JWT signing secret with a fixed context
    (never equal to it, and never equal to the consistency-token key)."""
    if settings.image_link_secret is not None:
        secret = settings.image_link_secret.get_secret_value()
    elif settings.jwt_algorithm == "RS256" and settings.jwt_private_key is not None:
        secret = settings.jwt_private_key.get_secret_value()
    else:
        secret = settings.jwt_secret.get_secret_value()
    return hmac.new(secret.encode(), _KEY_CONTEXT, hashlib.sha256).digest()


def image_path(image_id: str) -> str:
    return _IMAGE_PATH_HEAD + image_id  # (not ``str.format``: a feed page makes twenty or more)


class ImageLinks:
    def __init__(self, key: bytes, ttl_s: int) -> None:
        self._key, self._ttl_s = key, ttl_s

    @classmethod
    def of(cls, settings: Settings) -> ImageLinks:
        return cls(link_key(settings), settings.image_link_ttl_s)

    def signed(self, image_id: str, width: int = FEED_WIDTH, now_s: int | None = None) -> str:
        path = image_path(image_id)
        link = sign_link(self._key, path, width, int(time.time()) if now_s is None else now_s, self._ttl_s)
        return f"{path}?{link_query(link)}"

    def valid(self, image_id: str, width: int, expires: int, signature: str, now_s: int | None = None) -> bool:
        return verify_link(self._key, image_path(image_id), width, expires, signature,
                           int(time.time()) if now_s is None else now_s)
