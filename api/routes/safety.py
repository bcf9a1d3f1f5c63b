"""Blocks, mutes, muted hashtags and reports: the write side (validate, publish ``block-changed``,
``mute-changed``, ``content-reported``; 202 with a consistency token), and the caller's own lists: the accounts
they block, the accounts they mute, their muted tags.

What a block or a mute does is decided elsewhere: the safety processor (streams/safety.py) stores them and ends
a block's follows; every read path hides blocked users (api/visibility.py, the profile, the write gateway);
the feed read and the fan-out leave out muted accounts; the hashtag reads leave out muted tags.
Messaging has no API yet: when it comes, a block must stop messages both ways too.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from api import pending_writes
from api.deps import CurrentUser, ResourcesDep, SettingsDep, parse_id
from api.errors import ApiError
from api.hydrate import author_of
from api.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor, list_of
from api.routes.hashtags import canonical
from api.routes.reads import After, honour_after
from api.routes.writes import Accepted, PathId, _publish
from api.visibility import visible_post
from photostream.domain.safety import MAX_REPORT_DETAILS_CHARS, ReportReason
from producers import events
from sinks.profiles import read_profile, read_profiles
from sinks.safety import MAX_MUTED_TAGS

router = APIRouter(tags=["safety"])


class Report(BaseModel):
    """Why: one code of a fixed list (``photostream.domain.safety.REPORT_REASONS``), plus optional free text."""

    model_config = ConfigDict(extra="forbid")
    reason: ReportReason
    details: str | None = Field(default=None, max_length=MAX_REPORT_DETAILS_CHARS)


class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tag: str = Field(min_length=1, max_length=200)


def _other_user(user: str, user_id: str) -> str:
    target = parse_id(user_id, "user_id")
    if target == user:
        raise ApiError(422, "invalid", "user_id: you cannot do this to yourself", "user_id")
    return target


async def _toggle(kind: Literal["block", "mute"], user_id: str, user: str, resources: Any, settings: Any,
                  on: bool) -> Accepted:
    target = _other_user(user, user_id)
    action: Literal["on", "off"] = "on" if on else "off"
    event = (events.block_changed(actor_id=user, target_id=target, action=action) if kind == "block"
             else events.mute_changed(actor_id=user, target_id=target, action=action))
    if kind == "block":  # a follow, like or comment of a moment ago is applied first, so what the block ends
        await pending_writes.settle(resources, settings, [user, target], pending_writes.BLOCKING)  # includes it
    return await _publish(resources, settings, user, event, "write")


@router.post("/users/{user_id}/block", status_code=202, response_model=Accepted)
async def block(user_id: PathId, user: CurrentUser, resources: ResourcesDep, settings: SettingsDep) -> Accepted:
    """Block: the follows between the two end (both ways), and each becomes absent to the other."""
    return await _toggle("block", user_id, user, resources, settings, True)


@router.delete("/users/{user_id}/block", status_code=202, response_model=Accepted)
async def unblock(user_id: PathId, user: CurrentUser, resources: ResourcesDep, settings: SettingsDep) -> Accepted:
    """Unblock: each sees the other again (the ended follows are not restored)."""
    return await _toggle("block", user_id, user, resources, settings, False)


@router.post("/users/{user_id}/mute", status_code=202, response_model=Accepted)
async def mute(user_id: PathId, user: CurrentUser, resources: ResourcesDep, settings: SettingsDep) -> Accepted:
    """Mute: the account's posts leave the caller's feed (older ones too); the muted user is not told."""
    return await _toggle("mute", user_id, user, resources, settings, True)


@router.delete("/users/{user_id}/mute", status_code=202, response_model=Accepted)
async def unmute(user_id: PathId, user: CurrentUser, resources: ResourcesDep, settings: SettingsDep) -> Accepted:
    return await _toggle("mute", user_id, user, resources, settings, False)


#: each listing's name (its cursors are refused on the other) and the field saying since when
_LISTINGS: dict[Literal["block", "mute"], tuple[str, str]] = {"block": ("blocked", "blocked_at"),
                                                              "mute": ("muted", "muted_at")}


async def _accounts(kind: Literal["block", "mute"], user: str, resources: Any, settings: Any, response: Response,
                    limit: int, cursor: str | None, after: str | None) -> dict[str, Any]:
    """A page of the accounts the caller blocks or mutes, in id order; an account deleted since is left out (its
    pair goes with its purge)."""
    name, since = _LISTINGS[kind]
    listing = list_of(name, user)
    position = decode_cursor(listing, cursor)
    await honour_after(after, resources, settings, response)
    found = await resources.safety.listed(user, kind, limit, position)
    profiles = await read_profiles(resources.session, resources.redis, [other for other, _ in found])
    return {"items": [author_of(other, profiles[other]) | {since: at} for other, at in found if other in profiles],
            "next_cursor": encode_cursor(listing, found[-1][0]) if len(found) == limit else None}


@router.get("/users/me/blocked")
async def blocked_accounts(user: CurrentUser, resources: ResourcesDep, settings: SettingsDep, response: Response,
                           limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None, after: After = None) -> dict[str, Any]:
    """The accounts the caller blocks (to review, and unblock): ``{items: [{id, username, avatar_url,
    blocked_at}], next_cursor}`` in id order. Only the caller's own: nobody else learns whom they blocked."""
    return await _accounts("block", user, resources, settings, response, limit, cursor, after)


@router.get("/users/me/muted")
async def muted_accounts(user: CurrentUser, resources: ResourcesDep, settings: SettingsDep, response: Response,
                         limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None, after: After = None) -> dict[str, Any]:
    """The accounts the caller mutes: ``{items: [{id, username, avatar_url, muted_at}], next_cursor}`` in id
    order. Only the caller's own: a mute is never told to the muted."""
    return await _accounts("mute", user, resources, settings, response, limit, cursor, after)


@router.get("/users/me/muted-tags")
async def muted_tags(user: CurrentUser, resources: ResourcesDep, settings: SettingsDep, response: Response,
                     after: After = None) -> dict[str, Any]:
    await honour_after(after, resources, settings, response)
    return {"tags": sorted(await resources.safety.muted_tags(user))}


async def _tag_toggle(user: str, tag: str, resources: Any, settings: Any, on: bool) -> Accepted:
    name = canonical(tag)
    if on and len(await resources.safety.muted_tags(user)) >= MAX_MUTED_TAGS:
        raise ApiError(422, "invalid", f"tag: at most {MAX_MUTED_TAGS} muted hashtags", "tag")
    event = events.mute_changed(actor_id=user, target_id=name, action="on" if on else "off", target_kind="hashtag")
    return await _publish(resources, settings, user, event, "write")


@router.post("/users/me/muted-tags", status_code=202, response_model=Accepted)
async def mute_tag(body: TagIn, user: CurrentUser, resources: ResourcesDep, settings: SettingsDep) -> Accepted:
    """Hide a hashtag from the caller's hashtag pages and trending."""
    return await _tag_toggle(user, body.tag, resources, settings, True)


@router.delete("/users/me/muted-tags/{tag}", status_code=202, response_model=Accepted)
async def unmute_tag(tag: str, user: CurrentUser, resources: ResourcesDep, settings: SettingsDep) -> Accepted:
    return await _tag_toggle(user, tag, resources, settings, False)


@router.post("/users/{user_id}/report", status_code=202, response_model=Accepted)
async def report_user(user_id: PathId, body: Report, user: CurrentUser, resources: ResourcesDep,
                      settings: SettingsDep) -> Accepted:
    """Report an account (also one the caller blocked: reporting and blocking go together). An account that
    blocked the caller is the 404 of one that does not exist, as its profile is (a 202 told them it exists)."""
    target = _other_user(user, user_id)

    async def absent() -> ApiError | None:
        profile, relations = await asyncio.gather(read_profile(resources.session, resources.redis, target),
                                                  resources.safety.relations(user, [target]))
        if profile is None or (target in relations and relations[target].blocks_me):
            return ApiError(404, "not_found", "no such user", "user_id")
        return None

    # a block of a moment ago first (a report sent right after being blocked was accepted)
    await pending_writes.settle(resources, settings, [user, target], ("block-changed", "user-registered"),
                                unless_hidden=absent)
    if (refusal := await absent()) is not None:
        raise refusal
    event = events.content_reported(reporter_id=user, target_kind="user", target_id=target, reason=body.reason,
                                    details=body.details)
    return await _publish(resources, settings, user, event, "report")


@router.post("/posts/{post_id}/report", status_code=202, response_model=Accepted)
async def report_post(post_id: PathId, body: Report, user: CurrentUser, resources: ResourcesDep,
                      settings: SettingsDep) -> Accepted:
    """Report a post the caller may see (any other is a 404, as if absent)."""
    parse_id(post_id, "post_id")
    post = await pending_writes.post_of_a_moment_ago(resources, settings, post_id)
    if await visible_post(resources.graph, user, post) is None:
        raise ApiError(404, "not_found", "no such post", "post_id")
    event = events.content_reported(reporter_id=user, target_kind="post", target_id=post_id, reason=body.reason,
                                    details=body.details)
    return await _publish(resources, settings, user, event, "report")
