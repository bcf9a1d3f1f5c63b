"""Reads of posts as lists: an author's profile grid and a post's comments, newest first, and who likes a post,
paged by cursor."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Response

from api import pending_writes
from api.consistency import POST_PAGES
from api.deps import OptionalUser, ResourcesDep, SettingsDep, parse_id, user_or_me
from api.errors import ApiError
from api.hydrate import Item, authors, hydrate_posts
from api.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor, list_of
from api.routes.reads import After, honour_after
from api.visibility import blocked_with, require_account_lists, visible_post

router = APIRouter(tags=["reads"])
#: index slices scanned at most per grid page when posts hidden from the viewer thin a slice out
GRID_MAX_SCANS = 3


async def fill_page(
    scan: Callable[[int, str | None], Awaitable[list[str]]],
    hydrate: Callable[[list[str]], Awaitable[list[Item]]],
    limit: int, before: str | None,
) -> tuple[list[Item], str | None]:
    """Up to ``limit`` visible items after ``before``, and where the next page starts (None at the end).

    Posts the viewer may not see are skipped, so a slice can yield fewer items than it scanned: up to
    :data:`GRID_MAX_SCANS` slices are read (the common case is one). The cursor is the last item returned, or
    the last id scanned if the scans ran out first, so nothing is skipped or repeated across pages.
    """
    items: list[Item] = []
    position = before
    for _ in range(GRID_MAX_SCANS):
        ids = await scan(limit, position)
        for item in await hydrate(ids):
            items.append(item)
            if len(items) == limit:
                return items, item["post_id"]
        if len(ids) < limit:
            return items, None
        position = ids[-1]
    return items, position


@router.get("/users/{user_id}/posts")
async def user_posts(user_id: str, viewer: OptionalUser, resources: ResourcesDep, settings: SettingsDep,
                     response: Response, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
                     after: After = None) -> dict[str, Any]:
    """The profile grid: the user's posts the caller may see, newest first (who may page it at all:
    :func:`api.visibility.require_account_lists`)."""
    user_id = parse_id(user_or_me(user_id, viewer), "user_id")
    before = decode_cursor(list_of("grid", user_id), cursor)
    await honour_after(after, resources, settings, response, POST_PAGES)
    await require_account_lists(resources, viewer, user_id)
    items, position = await fill_page(
        lambda n, pos: resources.author_posts.newest(user_id, n, pos),
        lambda ids: hydrate_posts(resources, viewer, ids),
        limit, before)
    return {"items": items, "next_cursor": encode_cursor(list_of("grid", user_id), position) if position else None}


@router.get("/posts/{post_id}/comments")
async def post_comments(post_id: str, viewer: OptionalUser, resources: ResourcesDep, settings: SettingsDep,
                        response: Response, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
                        after: After = None) -> dict[str, Any]:
    """The post's comments, newest first, if the caller may see the post; otherwise 404 as for no post."""
    parse_id(post_id, "post_id")
    before = decode_cursor(list_of("comments", post_id), cursor)
    await honour_after(after, resources, settings, response, POST_PAGES)
    post, comments = await asyncio.gather(pending_writes.post_of_a_moment_ago(resources, settings, post_id),
                                          resources.comments.newest(post_id, limit, before))
    if await visible_post(resources.graph, viewer, post) is None:
        raise ApiError(404, "not_found", "no such post", "post_id")
    commenters = {c.user_id for c in comments}
    people, blocked = await asyncio.gather(authors(resources, list(commenters)),
                                           blocked_with(resources, viewer, commenters))
    more = len(comments) == limit
    return {  # a page may come out shorter than the limit: the cursor follows the comments read, shown or not
        "items": [{"comment_id": c.comment_id, "author": people[c.user_id], "text": c.text,
                   "created_at": c.created_at} for c in comments if c.user_id not in blocked],
        "next_cursor": encode_cursor(list_of("comments", post_id), comments[-1].comment_id) if more else None,
    }


@router.get("/posts/{post_id}/likes")
async def post_likers(post_id: str, viewer: OptionalUser, resources: ResourcesDep, settings: SettingsDep,
                      response: Response, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
                      after: After = None) -> dict[str, Any]:
    """Who likes the post (``{id, username, avatar_url}``, in id order) if the caller may see the post, with
    the count; otherwise 404 as for no post. People in a block with the caller are left out, as in comments."""
    parse_id(post_id, "post_id")
    position = decode_cursor(list_of("likes", post_id), cursor)
    await honour_after(after, resources, settings, response, POST_PAGES)
    post, (likers, last), counts = await asyncio.gather(
        pending_writes.post_of_a_moment_ago(resources, settings, post_id),
        resources.engagement.likers(post_id, position or "", limit), resources.engagement.counts([post_id]))
    if await visible_post(resources.graph, viewer, post) is None:
        raise ApiError(404, "not_found", "no such post", "post_id")
    people, blocked = await asyncio.gather(authors(resources, likers), blocked_with(resources, viewer, set(likers)))
    return {  # a page may come out shorter than the limit: the cursor follows the likes read, shown or not
        "items": [people[user] for user in likers if user not in blocked],
        "count": counts[post_id].like_count,
        "next_cursor": encode_cursor(list_of("likes", post_id), last) if last else None,
    }
