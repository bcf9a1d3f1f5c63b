"""``GET /images/{image_id}?w=``: a completed upload at one of the allowed widths, rendered once then cached.

Who may fetch it:
- anyone, when a public post shows the image: the answer is cacheable by every CDN for
  ``image_public_max_age_s`` (an hour: the bytes never change, but a deletion or an account turned private must
  reach the caches; for a year, a deleted photo stayed served from them);
- anyone, while the image is its uploader's profile photo (the ``avatar_url`` of profiles and items): cacheable
  for ``avatar_max_age_s`` only, since it stops being public when the user picks another;
- with a signed link (``w``, ``exp``, ``sig`` from a feed or post item): the holder, until it expires; a
  tampered or expired link is a 403;
- with a bearer token: the uploader, and whoever may see a post that shows it; privately cacheable only.
Everyone else gets the same 404 as for an image that does not exist. Without ``w`` the answer is a redirect
to the feed width: originals (with their EXIF, GPS included) never leave S3.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import RedirectResponse, Response

from api.deps import OptionalUser, ResourcesDep, SettingsDep, parse_id
from api.errors import ApiError
from api.images_links import image_path
from api.images_service import MissingOriginalError
from api.visibility import visible_posts
from photostream.domain.images import FEED_WIDTH, WIDTHS, choose_format, media_type, not_modified, render_etag
from sinks.photos_codec import FormatLimitError, UndecodableImageError
from sinks.posts import read_posts_cached
from sinks.profiles import read_profile

router = APIRouter(tags=["images"])
Audience = Literal["public", "avatar", "viewer"]


async def audience(resources: Any, viewer: str | None, image_id: str) -> Audience | None:
    """``public`` when a public post shows the image; ``avatar`` when it is its uploader's profile photo (everyone
    sees an avatar, private accounts' too, but only while it is one); ``viewer`` when only this caller may see it
    (its uploader, or someone who may see a post showing it); None for everyone else."""
    post_ids = await resources.images.posts_showing(image_id)
    posts = await read_posts_cached(resources.session, resources.redis, post_ids) if post_ids else []
    if any(p is not None for p in await visible_posts(resources.graph, None, posts)):
        return "public"
    uploader = await resources.images.uploader(image_id)
    if uploader is not None:
        profile = await read_profile(resources.session, resources.redis, uploader)
        if profile is not None and profile.get("avatar_image_id") == image_id:
            return "avatar"
    if viewer is None:
        return None
    if uploader == viewer:
        return "viewer"
    return "viewer" if any(p is not None for p in await visible_posts(resources.graph, viewer, posts)) else None


async def publicly_shown(resources: Any, image_id: str) -> bool:
    """Whether a public post shows the image: what every reader of it shares (``ApiResources.public_images``).

    Shared stale-while-revalidate (:class:`api.shared_answers.SharedAnswers`, for half ``image_public_ttl_s``,
    so no answer older than that is served, plus one read): under a plain TTL each expiry put the audience
    reads (Cassandra and graph, 20-45 ms on a busy machine) in front of every request for the image until one
    finished, and benchmark 10's p99 was those requests."""
    return await audience(resources, None, image_id) == "public"


def _cache_control(who: Audience, max_age: int, settings: Any) -> str:
    """A public post's photo stays public until its post is deleted or hidden (shared caches keep it for
    ``image_public_max_age_s``); an avatar is public only while it is one (the avatar's own lifetime); anything
    else is the viewer's alone."""
    if who == "public":
        return f"public, max-age={settings.image_public_max_age_s}"
    if who == "avatar":
        return f"public, max-age={settings.avatar_max_age_s}"
    return f"private, max-age={max_age}"


async def may_see_image(resources: Any, viewer: str | None, image_id: str) -> bool:
    """An image is as visible as the most visible post showing it; its uploader always sees it."""
    return await audience(resources, viewer, image_id) is not None


@router.get("/images/{image_id}", response_model=None)
async def get_image(
    image_id: str, viewer: OptionalUser, resources: ResourcesDep, settings: SettingsDep,
    w: Annotated[int | None, Query(description=f"one of {', '.join(map(str, WIDTHS))}")] = None,
    exp: Annotated[int | None, Query(description="signed links: expiry, epoch seconds")] = None,
    sig: Annotated[str | None, Query(description="signed links: the signature")] = None,
    accept: Annotated[str | None, Header()] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    parse_id(image_id, "image_id")
    if w is not None and w not in WIDTHS:
        raise ApiError(422, "invalid", f"w: one of {', '.join(map(str, WIDTHS))}", "w")
    if exp is not None or sig is not None:
        if w is None or exp is None or sig is None or not resources.image_links.valid(image_id, w, exp, sig):
            raise ApiError(403, "forbidden", "the link is invalid or has expired")
        who: Audience | None = "viewer"
        max_age = max(0, exp - int(time.time()))
    elif await resources.public_images.get(image_id, lambda: publicly_shown(resources, image_id)):
        who, max_age = "public", 60
    else:  # (the shared answer is only ever a shortcut to "public": anything else is read for this viewer)
        who, max_age = await audience(resources, viewer, image_id), 60
    if who is None:
        raise ApiError(404, "not_found", "no such image", "image_id")
    if w is None:
        # short-lived for the viewer's own redirect: shared caches must not keep it
        target = image_path(image_id) + f"?w={FEED_WIDTH}" if who in ("public", "avatar") else \
            resources.image_links.signed(image_id, FEED_WIDTH)
        return RedirectResponse(target, status_code=307, headers={"Cache-Control": "private, max-age=60"})
    fmt = resources.renderer.format_for(image_id, w, choose_format(accept))
    headers = {"ETag": render_etag(image_id, w, fmt), "Vary": "Accept",
               "Cache-Control": _cache_control(who, max_age, settings)}
    # a signed link proves only that someone could see the photo once: that it still exists is asked before
    # the memory copy (after an account deletion a link kept serving it from there until it expired) and before
    # a 304 (a conditional request kept the deleted photo in the client's cache, with a fresh max-age)
    image = await resources.images.file(image_id) if who == "viewer" else None
    if who == "viewer" and image is None:
        raise ApiError(404, "not_found", "no such image", "image_id")
    if not_modified(headers["ETag"], if_none_match):
        return Response(status_code=304, headers=headers)
    hot = resources.renderer.hot(image_id, w, fmt)
    if hot is not None:
        return Response(hot, media_type=media_type(fmt), headers=headers)
    image = image or await resources.images.file(image_id)
    if image is None:
        raise ApiError(404, "not_found", "no such image", "image_id")
    try:
        data, served = await resources.renderer.copy_in(image, w, fmt)
    except UndecodableImageError as exc:
        raise ApiError(422, "undecodable", f"the image cannot be decoded: {exc}", "image_id") from None
    except FormatLimitError as exc:  # beyond JPEG too (an original accepted before completion refused it)
        raise ApiError(422, "too_large", f"this size cannot be rendered: {exc}", "w") from None
    except MissingOriginalError:
        raise ApiError(404, "not_found", "no such image", "image_id") from None
    headers["ETag"] = render_etag(image_id, w, served)
    return Response(data, media_type=media_type(served), headers=headers)
