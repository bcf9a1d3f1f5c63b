"""The home feed: the caller's own, newest first, hydrated, behind an opaque cursor."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.auth import InvalidTokenError, checked_alongside
from api.deps import ResourcesDep, SettingsDep, SignedClaims, unauthorized
from api.hydrate import hydrate_posts
from api.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor, list_of
from api.routes.reads import After, honour_after

router = APIRouter(tags=["feed"])


@router.get("/feed")
async def get_feed(claims: SignedClaims, resources: ResourcesDep, settings: SettingsDep, response: Response,
                   limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None, after: After = None) -> dict[str, Any]:
    """Posts of the people the caller follows and their own, less muted accounts'; each item says why it is
    there. The cursor is the last post id of the page, so pages neither repeat nor skip while new posts arrive.

    The token's revocation is checked alongside the page's read (one Redis round trip for both), and skipped
    while Redis is unreachable (:func:`api.auth.verify_access`: the feed outlives a Redis outage)."""
    user = claims.user_id
    feed_of = list_of("feed", user)  # a cursor pages the feed it came from (another user's: 422)
    before = decode_cursor(feed_of, cursor)
    await honour_after(after, resources, settings, response)
    try:
        page = await checked_alongside(settings, resources.revocations, claims,
                                       resources.feeds.page(user, before, limit), unchecked_ok=True)
    except InvalidTokenError as exc:
        raise unauthorized(exc) from None
    # muted accounts' posts leave the feed at read time, older ones too (read with the page's block check);
    # the page may come out short, the cursor still follows the ids read, so paging neither repeats nor skips
    items = await hydrate_posts(resources, user, page.post_ids, hide_muted=True)
    for item in items:
        item["reason"] = page.reasons.get(item["post_id"], "followed")
    if page.source == "cassandra":
        response.headers["X-Photostream-Feed-Source"] = "cassandra"
    below = page.next_before(limit)
    next_cursor = encode_cursor(feed_of, below) if below is not None else None
    return {"items": items, "next_cursor": next_cursor}
