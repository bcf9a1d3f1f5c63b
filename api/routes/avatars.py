"""``GET /avatar/{hash}?w=``: a Gravatar-like profile picture by e-mail hash.

``hash`` is the hex SHA-256 of the trimmed, lower-cased e-mail address (``photostream.domain.identicon``): a
client that knows an address builds the URL without asking anyone, and no URL carries personal data. The answer
is the user's active profile photo (chosen with ``PATCH /users/me``, applied by ``streams.avatars``) at one of
the image widths; an unknown hash, or one without an active photo, gets the hash's identicon, never a 404.

``GET /users/me/profile-photos`` lists the caller's completed uploads (any of them may be the avatar) and says
which one is active, so a client can show "pick one of your photos".

The URL stays the same when the photo changes, so answers are cacheable only for ``avatar_max_age_s``; the
avatars processor purges the URLs at the CDN when the photo changes, so a CDN may keep them longer. The ETag
names the exact bytes (the photo's render, or the identicon), so revalidation is a 304 without a render.
"""

from __future__ import annotations

import asyncio
from functools import lru_cache
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response

from api.deps import CurrentUser, ResourcesDep, SettingsDep
from api.errors import ApiError
from api.images_service import MissingOriginalError
from api.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor, list_of
from api.routes.reads import After, honour_after
from photostream.domain.identicon import identicon, is_email_hash, png
from photostream.domain.images import WIDTHS, choose_format, media_type, not_modified, render_etag
from sinks.photos_codec import UndecodableImageError
from sinks.profiles import read_profile

router = APIRouter(tags=["avatars"])
#: avatars are shown small: the width when none is asked for
DEFAULT_WIDTH = 150
#: the width of the profile-photo picker's thumbnails (the grid size, rendered ahead of time)
PICKER_WIDTH = 320


@lru_cache(maxsize=512)
def _identicon_png(email_hash: str, width: int) -> bytes:
    return png(identicon(email_hash), width)


@router.get("/avatar/{email_hash}", response_model=None)
async def get_avatar(
    email_hash: str, request: Request, resources: ResourcesDep, settings: SettingsDep,
    w: Annotated[int, Query(description=f"one of {', '.join(map(str, WIDTHS))}")] = DEFAULT_WIDTH,
    accept: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    digest = email_hash.lower()
    if not is_email_hash(digest):
        raise ApiError(422, "invalid", "hash: the hex SHA-256 of the trimmed, lower-cased e-mail address", "hash")
    if w not in WIDTHS:
        raise ApiError(422, "invalid", f"w: one of {', '.join(map(str, WIDTHS))}", "w")
    if digest != email_hash:
        # one URL per avatar: the processor purges the lower-case URLs when the photo changes, and a CDN kept
        # serving the old photo under an upper-case spelling it had cached
        canonical = request.url.replace(path=request.url.path[:-len(email_hash)] + digest)
        return Response(status_code=308, headers={"Location": str(canonical),
                                                  "Cache-Control": f"public, max-age={settings.avatar_max_age_s}"})
    cache = {"Cache-Control": f"public, max-age={settings.avatar_max_age_s}"}
    avatar = await resources.avatars.lookup(digest)
    image = await resources.images.file(avatar.image_id) if avatar is not None and avatar.image_id else None
    if image is not None and image.broken is None:
        fmt = choose_format(accept)
        headers = cache | {"ETag": render_etag(image.image_id, w, fmt), "Vary": "Accept"}
        if not_modified(headers["ETag"], if_none_match):
            return Response(status_code=304, headers=headers)
        try:
            data = await resources.renderer.copy(image, w, fmt)
            return Response(data, media_type=media_type(fmt), headers=headers)
        except (UndecodableImageError, MissingOriginalError):
            pass  # a photo that cannot be shown: the default picture, as for a hash without one
    headers = cache | {"ETag": f'"identicon.{digest}.{w}"'}
    if not_modified(headers["ETag"], if_none_match):
        return Response(status_code=304, headers=headers)
    return Response(await asyncio.to_thread(_identicon_png, digest, w), media_type="image/png", headers=headers)


@router.get("/users/me/profile-photos")
async def profile_photos(user: CurrentUser, resources: ResourcesDep, settings: SettingsDep, response: Response,
                         limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None, after: After = None) -> dict[str, Any]:
    """``{active_image_id, items:[{image_id, url, width, height, completed_at, active}], next_cursor}``: the
    caller's completed uploads, newest first, that decode (a broken original cannot be an avatar). ``url`` is a
    signed link (only the uploader may see a photo no post shows). ``active`` follows ``PATCH /users/me``
    (``?after=`` its token for read-your-writes)."""
    await honour_after(after, resources, settings, response)
    (images, next_before), profile = await asyncio.gather(
        resources.images.completed_by(user, limit, decode_cursor(list_of("profile-photos", user), cursor)),
        read_profile(resources.session, resources.redis, user))
    active = (profile or {}).get("avatar_image_id")
    return {"active_image_id": active,
            "items": [{"image_id": i.image_id, "url": resources.image_links.signed(i.image_id, PICKER_WIDTH),
                       "width": i.width, "height": i.height, "completed_at": i.completed_at_ms,
                       "active": i.image_id == active} for i in images if i.broken is None],
            "next_cursor": encode_cursor(list_of("profile-photos", user), next_before) if next_before else None}
