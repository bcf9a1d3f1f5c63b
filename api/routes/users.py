"""Accounts as others see them, and as their owner changes them: ``GET /users/{id}``, ``PATCH /users/me``, and
the owner's side of follow requests to a private account (list, approve, deny).

Changes are published, never written here (the write gateway's rule): ``profile-updated`` carries the whole new
public profile; approving a request publishes the requester's ``follow-changed`` on their behalf, then closes
the request with ``follow-requested`` (in that order, so a failure between the two leaves a request that can be
approved again, never a closed request without its follow).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from api import pending_writes
from api.deps import CurrentUser, OptionalUser, ResourcesDep, SettingsDep, parse_id, per_app, user_or_me
from api.errors import ApiError
from api.hydrate import authors, image_url
from api.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor, list_of
from api.routes.reads import After, honour_after
from api.routes.uploads import require_own_completed
from api.routes.writes import Accepted, PathId, _publish
from photostream.domain.accounts import (
    BIO_MAX,
    DISPLAY_NAME_MAX,
    AccountRuleError,
    check_bio,
    check_display_name,
    normalize_username,
)
from photostream.domain.safety import NONE as NO_RELATION
from photostream.domain.safety import Relation, blocked_either_way
from photostream.settings import Settings
from producers import events
from sinks import cache_aside, keys
from sinks.accounts_counts import PostCounts
from sinks.accounts_requests import FollowRequests
from sinks.credentials import CredentialStore
from sinks.profiles import cache_profile, read_profile, read_profiles
from sinks.revocations import closed_among
from sinks.usernames import UsernameDirectory

router = APIRouter(tags=["users"])
T = TypeVar("T")


def _repository(request: Request, cls: Callable[[Any], T]) -> T:
    """One instance of a repository per app (statements prepared once, on first use)."""
    return per_app(request, cls, lambda state: cls(state.resources.session))


class ProfilePatch(BaseModel):
    """Only the fields sent change; ``bio`` and ``avatar_image_id`` may be set to null to clear them."""

    model_config = ConfigDict(extra="forbid")
    display_name: str | None = Field(default=None, min_length=1, max_length=DISPLAY_NAME_MAX)
    bio: str | None = Field(default=None, max_length=BIO_MAX)
    avatar_image_id: str | None = None
    #: strict: "yes" or 1 is a 422 naming the field, not a silent true (privacy is not to be guessed)
    is_private: StrictBool | None = None
    #: people tags: who may tag the caller in photos, and whether tags by people they do not follow wait
    tags_from: Literal["everyone", "following"] | None = None
    tags_manual_approval: StrictBool | None = None

    @field_validator("display_name")
    @classmethod
    def _one_printable_line(cls, value: str | None) -> str | None:
        return _ruled(check_display_name, value)

    @field_validator("bio")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        return _ruled(check_bio, value)


def _ruled(rule: Callable[[str], str], value: str | None) -> str | None:
    """``value`` checked by the domain's rule (the SDK checks events with the same), as pydantic words it."""
    if value is None:
        return None
    try:
        return rule(value)
    except AccountRuleError as exc:
        raise ValueError(str(exc)) from None


async def _none() -> bool:
    return False


async def _no_relations() -> dict[str, Relation]:
    return {}


@router.get("/users/{user_id}")
async def get_user(user_id: str, request: Request, viewer: OptionalUser, resources: ResourcesDep,
                   settings: SettingsDep, response: Response, after: After = None) -> dict[str, Any]:
    """The public profile with counts, and how the viewer and the user are related (``me``: the caller;
    ``@name``: whoever holds that username now, so a client can open a profile from an ``@mention``)."""
    user_id = user_or_me(user_id, viewer)
    if user_id.startswith("@"):
        user_id = await _holder_of(request, user_id[1:])
    parse_id(user_id, "user_id")
    await honour_after(after, resources, settings, response)
    other = viewer is not None and viewer != user_id
    profile, relations = await asyncio.gather(
        read_profile(resources.session, resources.redis, user_id),
        resources.safety.relations(viewer, [user_id]) if viewer is not None and other else _no_relations(),
    )
    relation = relations.get(user_id, NO_RELATION)
    if profile is None or blocked_either_way(relation):  # blocked either way: as if absent
        raise ApiError(404, "not_found", "no such user", "user_id")
    requests = _repository(request, FollowRequests)
    posts, followers, following, followed_by_me, follows_me, requested = await asyncio.gather(
        _repository(request, PostCounts).of(user_id, viewer),
        resources.graph.follower_counts([user_id]),
        resources.follow_lists.following_count(user_id),
        resources.graph.followed_among(viewer, [user_id]) if other else _none(),
        resources.graph.followed_among(user_id, [viewer]) if other else _none(),
        requests.is_pending(user_id, viewer) if viewer is not None and other and profile.get("is_private")
        else _none(),
    )
    avatar = profile.get("avatar_image_id")
    return {"id": user_id, "username": profile["username"], "display_name": profile["display_name"],
            "bio": profile["bio"], "avatar_image_id": avatar, "avatar_url": image_url(avatar) if avatar else None,
            "is_private": bool(profile.get("is_private")),
            "counts": {"posts": posts, "followers": followers.get(user_id, 0), "following": following},
            "followed_by_me": bool(followed_by_me), "follows_me": bool(follows_me),
            "follow_requested_by_me": bool(requested), "muted_by_me": relation.i_mute}


async def _holder_of(request: Request, username: str) -> str:
    """The id of the account holding ``username`` (any case); a name no one holds, or that no one could hold,
    is the 404 of an absent user (so is a holder in a block with the caller: the profile read says so)."""
    try:
        name = normalize_username(username)
    except AccountRuleError:
        raise ApiError(404, "not_found", "no such user", "user_id") from None
    holder = (await _repository(request, UsernameDirectory).owners([name])).get(name)
    if holder is None:
        raise ApiError(404, "not_found", "no such user", "user_id")
    return holder


@router.patch("/users/me", status_code=202, response_model=Accepted)
async def update_me(body: ProfilePatch, request: Request, user: CurrentUser, resources: ResourcesDep,
                    settings: SettingsDep) -> Accepted:
    """Publishes ``profile-updated`` with the whole new public profile (the current one with the fields sent).

    Once published, the new profile goes into the hot copy at once (version-checked: never over a newer one).
    Why: the event is absolute, so the next edit merges over what it reads; read from a projection still behind,
    a second edit right after the first (private, then a new bio) published the old privacy again and turned the
    account public. The copy is also what a follow asks to decide between following and requesting. An account
    turning public approves the requests still pending (nothing is left to approve them for)."""
    sent = body.model_fields_set
    if "display_name" in sent and body.display_name is None:
        raise ApiError(422, "invalid", "display_name: may not be null", "display_name")
    for flag in ("is_private", "tags_from", "tags_manual_approval"):
        if flag in sent and getattr(body, flag) is None:
            raise ApiError(422, "invalid", f"{flag}: may not be null", flag)
    if body.avatar_image_id is not None:  # the caller's own completed upload: 403 someone else's, 422 unknown
        parse_id(body.avatar_image_id, "avatar_image_id")
        await require_own_completed(resources, user, [body.avatar_image_id], "avatar_image_id")
    async with pending_writes.one_at_a_time(resources, settings, keys.profile_edit_lock(user), strict=True):
        accepted = await _publish_profile_edit(body, request, user, resources, settings)
        if "is_private" in sent and not body.is_private:  # (inside: an edit turning private again waits for it)
            await _approve_all(request, resources, user)
    return accepted


async def _publish_profile_edit(body: ProfilePatch, request: Request, user: str, resources: Any,
                                settings: Settings) -> Accepted:
    """Read the current profile, merge what was sent, publish it and put it in the hot copy. Edits of one user
    run one at a time (:func:`update_me` holds the lock): two sent together (private, and a new avatar) both
    read the profile before either published, and the later one published the old privacy again."""
    await pending_writes.settle(resources, settings, [user], pending_writes.PROFILE)  # the tag settings: below
    current = await read_profile(resources.session, resources.redis, user)
    if current is None:  # registered a moment ago, not projected yet: the credentials know the name
        credentials = await _repository(request, CredentialStore).get(user)
        if credentials is None:
            raise ApiError(404, "not_found", "no such user")
        current = {"username": credentials.username, "display_name": credentials.username}
    sent = body.model_fields_set
    merged = {f: getattr(body, f) if f in sent else current.get(f)
              for f in ("display_name", "bio", "avatar_image_id", "is_private")}
    tags = await resources.tag_settings.of(user)  # the event is absolute: keep what is not sent
    followed_only = body.tags_from == "following" if "tags_from" in sent else tags.followed_only
    approval = bool(body.tags_manual_approval) if "tags_manual_approval" in sent else tags.manual_approval
    event = events.profile_updated(user_id=user, username=current["username"],
                                   display_name=merged["display_name"] or current["username"], bio=merged["bio"],
                                   avatar_image_id=merged["avatar_image_id"], is_private=bool(merged["is_private"]),
                                   tags_followed_only=followed_only, tags_manual_approval=approval)
    accepted = await _publish(resources, settings, user, event, "write")
    with contextlib.suppress(*cache_aside.REDIS_DOWN):  # (the projector writes it too, from the event)
        await cache_profile(resources.redis, user, event.value, int(event.value["occurred_at"]))
    return accepted


async def _approve_all(request: Request, resources: Any, owner: str, page_size: int = 500) -> None:
    """Approve every request pending to ``owner`` (who turned public), a page at a time, as :func:`approve` does
    one: the follow first, then the request closed.

    The writes of a moment ago that close a request (a withdrawal, a block either way) name the owner, so
    waiting for the owner's own pending writes first applies them all: read before they were, a withdrawn or
    blocked request was approved (a follow across a block). A requester whose account is gone is not made a
    follower (a follower nobody could see, counted for good): their request is closed as denied."""
    await pending_writes.settle(resources, request.app.state.settings, [owner], pending_writes.FOLLOWING)
    requests, after = _repository(request, FollowRequests), None
    while pending := await requests.page(owner, page_size, after):
        after = pending[-1].follower_id
        requesters = [p.follower_id for p in pending]
        blocked, profiles, closed = await asyncio.gather(
            resources.graph.blocked_among(owner, requesters),
            read_profiles(resources.session, resources.redis, requesters),
            closed_among(resources.redis, resources.session, requesters))
        gone = [r for r in requesters if profiles.get(r) is None or r in closed]
        approved = [r for r in requesters if r not in blocked and r not in gone]  # (a block closes)
        await asyncio.gather(*(pending_writes.publish(resources, events.follow_changed(
            follower_id=requester, followee_id=owner, action="follow")) for requester in approved))
        await asyncio.gather(*(pending_writes.publish(resources, events.follow_requested(
            follower_id=requester, followee_id=owner, action="approve")) for requester in approved),
            *(pending_writes.publish(resources, events.follow_requested(
                follower_id=requester, followee_id=owner, action="deny")) for requester in gone))


@router.get("/users/me/follow-requests")
async def follow_requests(request: Request, user: CurrentUser, resources: ResourcesDep, settings: SettingsDep,
                          response: Response, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
                          after: After = None) -> dict[str, Any]:
    """Pending requests to follow the caller: ``{items:[{id, username, avatar_url, requested_at}], next_cursor}``."""
    position = decode_cursor(list_of("follow-requests", user), cursor)
    await honour_after(after, resources, settings, response)
    pending = await _repository(request, FollowRequests).page(user, limit, position)
    people = await authors(resources, [p.follower_id for p in pending])
    return {"items": [people[p.follower_id] | {"requested_at": p.requested_at} for p in pending],
            "next_cursor": encode_cursor(list_of("follow-requests", user), pending[-1].follower_id)
            if len(pending) == limit else None}


async def _pending(request: Request, owner: str, requester: str, approving: bool) -> str:
    """The requester, if their request to ``owner`` is pending and, for an approval, no block stands between
    them (a block closes the request, :mod:`streams.follow_requests`; until that is applied, it is refused here
    all the same) and their account still exists (an approval of a deleted account's leftover request made a
    follower of nobody, counted for good; so did one sent the moment the deletion was accepted). A denial needs
    only the request: a deleted requester's stayed listed, and its denial was refused."""
    parse_id(requester, "user_id")
    resources = request.app.state.resources  # a withdrawal or block of a moment ago is applied first
    await pending_writes.settle(resources, request.app.state.settings, [owner, requester], pending_writes.FOLLOWING)
    pending, blocked, profile, closed = await asyncio.gather(
        _repository(request, FollowRequests).is_pending(owner, requester),
        resources.graph.blocked_among(owner, [requester]), read_profile(resources.session, resources.redis, requester),
        closed_among(resources.redis, resources.session, [requester]))
    if not pending or (approving and (blocked or profile is None or closed)):
        raise ApiError(404, "not_found", "no pending follow request from this user", "user_id")
    return requester


@router.post("/users/me/follow-requests/{user_id}/approve", status_code=202, response_model=Accepted)
async def approve(user_id: PathId, request: Request, user: CurrentUser, resources: ResourcesDep,
                  settings: SettingsDep) -> Accepted:
    """The requester now follows the caller; the token is the follow's (reads with it see the new follower)."""
    requester = await _pending(request, user, user_id, approving=True)
    follow = events.follow_changed(follower_id=requester, followee_id=user, action="follow")
    accepted = await _publish(resources, settings, user, follow, "write")
    await pending_writes.publish(resources, events.follow_requested(follower_id=requester, followee_id=user,
                                                                    action="approve"))
    return accepted


@router.post("/users/me/follow-requests/{user_id}/deny", status_code=202, response_model=Accepted)
async def deny(user_id: PathId, request: Request, user: CurrentUser, resources: ResourcesDep,
               settings: SettingsDep) -> Accepted:
    requester = await _pending(request, user, user_id, approving=False)
    event = events.follow_requested(follower_id=requester, followee_id=user, action="deny")
    return await _publish(resources, settings, user, event, "write")
