"""Photo rules as plain functions: where objects live, which formats and widths exist, and signed links.

Nothing here does I/O. The API (``api.routes.uploads``, ``api.routes.images``) and the renderer
(``sinks.photos_codec``) apply these rules; unit tests pin them down table by table.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

ContentType = Literal["image/jpeg", "image/png", "image/webp", "image/heic"]
RenderFormat = Literal["webp", "jpeg"]

#: the widths clients may ask for: few, so a CDN and the render store each keep at most four copies per image
WIDTHS: tuple[int, ...] = (150, 320, 640, 1080)
#: the width feed and post items link to
FEED_WIDTH = 1080
#: bump when the rendering pipeline changes: it is part of every render key and ETag, so caches roll over
RENDER_VERSION = "r1"

_RENDER_MEDIA_TYPES: dict[RenderFormat, str] = {"webp": "image/webp", "jpeg": "image/jpeg"}


def object_key(user_id: str, image_id: str) -> str:
    """The original's key: under its uploader, so a pre-signed upload can never land in someone else's space."""
    return f"photos/{user_id}/{image_id}"


def render_key(image_id: str, width: int, fmt: RenderFormat) -> str:
    """The stored copy of one size in one format (derived, so it needs no index)."""
    return f"renders/{image_id}/{RENDER_VERSION}/w{width}.{fmt}"


def render_etag(image_id: str, width: int, fmt: RenderFormat) -> str:
    """A strong ETag: an image id names immutable bytes and a render is a function of them, width, format and
    the pipeline version, so the tag is known without reading the copy (a 304 costs no S3 request)."""
    return f'"{image_id}.{RENDER_VERSION}.{width}.{fmt}"'


def media_type(fmt: RenderFormat) -> str:
    return _RENDER_MEDIA_TYPES[fmt]


def sniff_content_type(head: bytes) -> ContentType | None:
    """The type the bytes really are (magic numbers), whatever the name or the declared type say."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) >= 12 and head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim",
                                                                    b"heis", b"hevc", b"hevx"):
        return "image/heic"
    return None


def choose_format(accept: str | None) -> RenderFormat:
    """WebP for clients that say they take it (``image/webp`` or ``image/*`` is not enough: old browsers send
    ``*/*``) with a quality above zero (``image/webp;q=0`` refuses it), JPEG for everyone else."""
    for part in (accept or "").lower().split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media == "image/webp":
            return "jpeg" if any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params) \
                else "webp"
    return "jpeg"


def too_many_pixels(width: int, height: int, max_pixels: int) -> bool:
    """A decompression bomb: a small file declaring more pixels than a photo has."""
    return width <= 0 or height <= 0 or width * height > max_pixels


def scaled_height(width: int, height: int, target_width: int) -> int:
    """The height that keeps the aspect ratio at ``target_width`` (never upscaled, never zero)."""
    target = min(target_width, width)
    return max(1, round(height * target / width))


# --- signed links -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedLink:
    path: str
    width: int
    expires: int
    signature: str


def _mac(key: bytes, path: str, width: int, expires: int) -> str:
    message = f"{path}\n{width}\n{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:20]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_link(key: bytes, path: str, width: int, now_s: int, ttl_s: int, granularity_s: int = 600) -> SignedLink:
    """A link to ``path`` at ``width`` valid for at least ``ttl_s``. The expiry is rounded up to
    ``granularity_s`` so the same photo gets the same URL for a while, and browsers can cache it."""
    expires = -(-(now_s + ttl_s) // granularity_s) * granularity_s
    return SignedLink(path, width, expires, _mac(key, path, width, expires))


def link_query(link: SignedLink) -> str:
    return f"w={link.width}&exp={link.expires}&sig={link.signature}"


def verify_link(key: bytes, path: str, width: int, expires: int, signature: str, now_s: int) -> bool:
    """True only for an untampered signature that has not expired (constant-time comparison)."""
    if expires < now_s:
        return False
    # compared as bytes: ``compare_digest`` refuses str with non-ASCII characters (a TypeError: a 500 for anyone)
    return hmac.compare_digest(_mac(key, path, width, expires).encode(), signature.encode("utf-8", "replace"))


def not_modified(etag: str, if_none_match: str | None) -> bool:
    """Whether ``If-None-Match`` names ``etag``: weak comparison (RFC 9110: ``W/"x"`` matches ``"x"``), and ``*``
    matches any current representation."""
    if if_none_match is None:
        return False
    wanted = etag.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == wanted for tag in (t.strip() for t in if_none_match.split(",")))
