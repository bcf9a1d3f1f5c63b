"""Who follows a user and whom they follow: paged lists of people, with counts.

The lists are as visible as the account: a private account's are for itself and its followers (403 for anyone
else: the profile already says the account exists and is private), and a user who stands in a block with the
caller is absent (404), exactly as their profile is — and as a user without a profile (never registered, or
deleted) is, so the answer never tells "blocked" from "absent".
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Response

from api.deps import OptionalUser, ResourcesDep, SettingsDep, parse_id, user_or_me
from api.hydrate import authors
from api.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor, list_of
from api.routes.reads import After, honour_after
from api.visibility import blocked_with, require_account_lists
from sinks.follow_lists import Direction

router = APIRouter(tags=["social"])


async def _count(resources: Any, direction: Direction, user_id: str) -> int:
    if direction == "followers":
        counts = await resources.graph.follower_counts([user_id])
        return int(counts.get(user_id, 0))
    return int(await resources.follow_lists.following_count(user_id))


async def _people(direction: Direction, user_id: str, viewer: str | None, resources: Any, settings: Any,
                  response: Response, limit: int, cursor: str | None, after: str | None) -> dict[str, Any]:
    user_id = parse_id(user_or_me(user_id, viewer), "user_id")
    position = decode_cursor(list_of(direction, user_id), cursor)
    await honour_after(after, resources, settings, response)
    await require_account_lists(resources, viewer, user_id)
    ids, count = await asyncio.gather(resources.follow_lists.page(direction, user_id, limit, position),
                                      _count(resources, direction, user_id))
    people, blocked = await asyncio.gather(authors(resources, ids), blocked_with(resources, viewer, ids))
    return {"items": [people[i] for i in ids if i not in blocked], "count": count,  # (the cursor: as read)
            "next_cursor": encode_cursor(list_of(direction, user_id), ids[-1]) if len(ids) == limit else None}


@router.get("/users/{user_id}/followers")
async def followers(user_id: str, viewer: OptionalUser, resources: ResourcesDep, settings: SettingsDep,
                    response: Response, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
                    after: After = None) -> dict[str, Any]:
    """The users following ``user_id`` (in id order), and how many there are."""
    return await _people("followers", user_id, viewer, resources, settings, response, limit, cursor, after)


@router.get("/users/{user_id}/following")
async def following(user_id: str, viewer: OptionalUser, resources: ResourcesDep, settings: SettingsDep,
                    response: Response, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
                    after: After = None) -> dict[str, Any]:
    """The users ``user_id`` follows (in id order), and how many there are."""
    return await _people("following", user_id, viewer, resources, settings, response, limit, cursor, after)
