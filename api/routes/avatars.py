"""``GET /avatar/{hash}?w=``: a Gravatar-like profile picture by e-mail hash.

``hash`` is the hex SHA-256 of the trimmed, lower-cased e-mail address (``photostream.domain.identicon``): a
client that knows an address builds the URL without asking anyone, and no URL carries personal data. The answer
is the user's active profile photo (chosen with ``PATCH /users/me``, applied by ``streams.avatars``) at one of
the image widths; an unknown hash, or one without an active photo, gets the hash's identicon, never a 404.

The URL stays the same when the photo changes, so answers are cacheable only for ``avatar_max_age_s``; the
avatars processor purges the URLs at the CDN when the photo changes, so a CDN may keep them longer. The ETag
names the exact bytes (the photo's render, or the identicon), so revalidation is a 304 without a render.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import Response

from api.deps import ResourcesDep, SettingsDep
from api.errors import ApiError
from api.images_service import MissingOriginalError
from photostream.domain.identicon import identicon, is_email_hash, png
from photostream.domain.images import WIDTHS, choose_format, media_type, render_etag
from sinks.photos_codec import UndecodableImageError

router = APIRouter(tags=["avatars"])
#: avatars are shown small: the width when none is asked for
DEFAULT_WIDTH = 150


@lru_cache(maxsize=512)
def _identicon_png(email_hash: str, width: int) -> bytes:
    return png(identicon(email_hash), width)


def _fresh(etag: str, if_none_match: str | None) -> bool:
    return if_none_match is not None and etag in [t.strip() for t in if_none_match.split(",")]


@router.get("/avatar/{email_hash}", response_model=None)
async def get_avatar(
    email_hash: str, resources: ResourcesDep, settings: SettingsDep,
    w: Annotated[int, Query(description=f"one of {', '.join(map(str, WIDTHS))}")] = DEFAULT_WIDTH,
    accept: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    digest = email_hash.lower()
    if not is_email_hash(digest):
        raise ApiError(422, "invalid", "hash: the hex SHA-256 of the trimmed, lower-cased e-mail address", "hash")
    if w not in WIDTHS:
        raise ApiError(422, "invalid", f"w: one of {', '.join(map(str, WIDTHS))}", "w")
    cache = {"Cache-Control": f"public, max-age={settings.avatar_max_age_s}"}
    avatar = await resources.avatars.lookup(digest)
    image = await resources.images.file(avatar.image_id) if avatar is not None and avatar.image_id else None
    if image is not None and image.broken is None:
        fmt = choose_format(accept)
        headers = cache | {"ETag": render_etag(image.image_id, w, fmt), "Vary": "Accept"}
        if _fresh(headers["ETag"], if_none_match):
            return Response(status_code=304, headers=headers)
        try:
            data = await resources.renderer.copy(image, w, fmt)
            return Response(data, media_type=media_type(fmt), headers=headers)
        except (UndecodableImageError, MissingOriginalError):
            pass  # a photo that cannot be shown: the default picture, as for a hash without one
    headers = cache | {"ETag": f'"identicon.{digest}.{w}"'}
    if _fresh(headers["ETag"], if_none_match):
        return Response(status_code=304, headers=headers)
    return Response(await asyncio.to_thread(_identicon_png, digest, w), media_type="image/png", headers=headers)
