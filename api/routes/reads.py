"""Reads of the views: posts (profiles: api.routes.users), honouring ``?after=TOKEN`` for read-your-writes."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api import pending_writes
from api.consistency import EVERY_VIEW, POST_PAGES, ConsistencyToken, InvalidConsistencyTokenError, Waits, wait_applied
from api.deps import OptionalUser, ResourcesDep, SettingsDep, parse_id
from api.errors import ApiError
from api.hydrate import hydrate_posts

router = APIRouter(tags=["reads"])
After = Annotated[str | None, Query(description="a consistency token from a write's 202 answer")]


async def honour_after(after: str | None, resources: Any, settings: Any, response: Response,
                       waits: Waits = EVERY_VIEW) -> None:
    """Wait (bounded) until the write behind ``after`` is applied to the views the read reads (``waits``), and the
    writer's other writes of that moment (the approvals an account turning public published beside its profile:
    read with its token, the followers list still had none of them); mark the answer if they are not yet."""
    if not after:
        return
    try:
        token = ConsistencyToken.decode(after)
    except InvalidConsistencyTokenError as exc:
        raise ApiError(422, "invalid", str(exc), "after") from None
    deadline = time.monotonic() + settings.read_your_writes_timeout_s
    applied = await wait_applied(resources.redis, token, settings.read_your_writes_timeout_s, waits)
    if applied and token.writer:
        applied = await pending_writes.writes_applied(resources, token.writer, max(0.0, deadline - time.monotonic()),
                                                      waits)
    if not applied:
        response.headers["X-Photostream-Consistency"] = "pending"


@router.get("/posts/{post_id}")
async def get_post(post_id: str, viewer: OptionalUser, resources: ResourcesDep, settings: SettingsDep,
                   response: Response, after: After = None) -> dict[str, Any]:
    """One post, hydrated like a feed item, if the caller may see it; otherwise 404 exactly as for a post that
    does not exist."""
    parse_id(post_id, "post_id")
    await honour_after(after, resources, settings, response, POST_PAGES)
    items = await hydrate_posts(resources, viewer, [post_id])
    if not items and await pending_writes.post_of_a_moment_ago(resources, settings, post_id) is not None:
        items = await hydrate_posts(resources, viewer, [post_id])  # (published a moment ago: now applied)
    if not items:
        raise ApiError(404, "not_found", "no such post", "post_id")
    return items[0]
