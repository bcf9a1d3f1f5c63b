"""People tags in photos: tag, untag, approve (writes: publish ``photo-tag-changed``), and "photos of you".

Writes follow the write gateway's rule (api/routes/writes.py): validate, authorise, rate-limit, publish, answer
202 with the event id and a consistency token; the acting user is always the verified token's. Whom the author
may tag, and whether the tag waits for approval, is decided here once (photostream/domain/photo_tags.py) from
what the views hold when the tag is accepted; the event carries the outcome.

Reads page the tagged user's own index (``tagged_posts``, or ``pending_tagged_posts`` for the tagged user's
pending tags), never the posts, and hydrate the posts like every list: visibility and blocks per viewer.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from api import pending_writes, ratelimit
from api.deps import CurrentUser, OptionalUser, ResourcesDep, SettingsDep, parse_id, user_or_me
from api.errors import ApiError
from api.hydrate import hydrate_posts
from api.paging import DEFAULT_LIMIT, Cursor, Limit, decode_cursor, encode_cursor, list_of
from api.routes.posts_read import fill_page
from api.routes.reads import After, honour_after
from api.routes.writes import Accepted, PathId, _publish
from api.visibility import require_account_lists, visible_post
from photostream.domain.photo_tags import PhotoTag, Refusal, TagFacts, decide_tag, may_remove
from producers import events
from producers.ids import is_id
from sinks import keys
from sinks.photo_tags import APPROVED, PENDING
from sinks.posts import read_post
from sinks.profiles import read_profile
from sinks.revocations import closed_among

router = APIRouter(tags=["people tags"])
_TAGS = "/posts/{post_id}/photos/{image_id}/tags"


class TagCreate(BaseModel):
    """Whom to tag, and where on the photo (relative: 0..1 from the left and from the top)."""

    model_config = ConfigDict(extra="forbid")
    user_id: str
    #: strict: ``true`` was taken as 1.0 (a place on the photo is a number, not a guess)
    x: float = Field(ge=0.0, le=1.0, strict=True)
    y: float = Field(ge=0.0, le=1.0, strict=True)


async def _photo(resources: Any, user: str, post_id: str, image_id: str, *, own_tag: bool = False) -> dict[str, Any]:
    """The post (authoritative read), which must exist, be visible to the caller and show the photo; 404
    naming the field otherwise. A post the caller may not see is the 404 of a post that does not exist, before
    any question about its photos or tags (those answers told a hidden post's existence and its image ids) —
    unless the caller is tagged on that photo and asks about their own tag (``own_tag``): the tagged person
    removes (or approves) their tag whoever may see the post, after a block of the tagger too."""
    parse_id(post_id, "post_id")
    parse_id(image_id, "image_id")
    post = await read_post(resources.session, post_id)
    if post is None or (await visible_post(resources.graph, user, post) is None
                        and not (own_tag and await _tagged_on(resources, post_id, image_id, user))):
        raise ApiError(404, "not_found", "no such post", "post_id")
    if image_id not in post["image_ids"]:
        raise ApiError(404, "not_found", "no such photo in this post", "image_id")
    return post


async def _settled(resources: Any, settings: Any, user: str, other: str) -> None:
    """The caller's and the other person's writes of a moment ago (the post, a tag, a block, a follow, the tag
    settings) applied first: the decision below reads them (:mod:`api.pending_writes`)."""
    people = [user, other] if is_id(other) else [user]  # (a bad id is refused below, naming its field)
    await pending_writes.settle(resources, settings, people, pending_writes.TAGGING + pending_writes.POSTING)


async def _tagged_on(resources: Any, post_id: str, image_id: str, user: str) -> bool:
    tags: list[PhotoTag] = await resources.photo_tags.of_photo(post_id, image_id)
    return any(t.tagged_id == user for t in tags)


async def _tag_of(resources: Any, post_id: str, image_id: str, tagged_id: str) -> PhotoTag:
    tags: list[PhotoTag] = await resources.photo_tags.of_photo(post_id, image_id)
    found = next((t for t in tags if t.tagged_id == tagged_id), None)
    if found is None:
        raise ApiError(404, "not_found", "this person is not tagged on this photo", "user_id")
    return found


@router.post(_TAGS, status_code=202, response_model=Accepted)
async def tag(post_id: PathId, image_id: PathId, body: TagCreate, user: CurrentUser, resources: ResourcesDep,
              settings: SettingsDep) -> Accepted:
    """The author tags someone on a photo of their post (pending if the person approves tags first). One tag
    decision per photo at a time (the count and the duplicate check read what the previous one published)."""
    parse_id(post_id, "post_id")
    parse_id(image_id, "image_id")
    async with pending_writes.one_at_a_time(resources, settings, keys.photo_tags_lock(post_id, image_id)):
        return await _tag(post_id, image_id, body, user, resources, settings)


async def _tag(post_id: str, image_id: str, body: TagCreate, user: str, resources: Any, settings: Any) -> Accepted:
    await _settled(resources, settings, user, body.user_id)
    post = await _photo(resources, user, post_id, image_id)
    if post["author_id"] != user:
        raise ApiError(403, "forbidden", "only the post's author tags people on its photos")
    tagged = parse_id(body.user_id, "user_id")
    if tagged == user:
        raise ApiError(422, "invalid", "user_id: the author cannot tag themselves", "user_id")
    profile, blocked, follows, tag_settings, tags, closed = await asyncio.gather(
        read_profile(resources.session, resources.redis, tagged),
        resources.graph.blocked_among(user, [tagged]),
        resources.graph.followed_among(tagged, [user]),
        resources.tag_settings.of(tagged),
        resources.photo_tags.of_photo(post_id, image_id),
        closed_among(resources.redis, resources.session, [tagged]))
    if profile is None or closed:  # (one whose deletion is accepted: the tag outlived the purge)
        raise ApiError(404, "not_found", "no such user", "user_id")
    decision = decide_tag(TagFacts(blocked=bool(blocked), tagged_follows_author=bool(follows), settings=tag_settings,
                                   already_tagged=any(t.tagged_id == tagged for t in tags),
                                   tags_on_photo=len(tags)))
    if isinstance(decision, Refusal):
        raise ApiError(decision.status, decision.code, decision.message, decision.field)
    limit = ratelimit.Limit(settings.rate_limit_tags_per_minute, settings.rate_limit_tags_burst)
    taken = await ratelimit.take(resources.redis, user, "tag", limit)
    if not taken.allowed:
        raise ApiError(429, "rate_limited", f"too many tags; retry in {taken.retry_after_s}s",
                       headers={"Retry-After": str(taken.retry_after_s)})
    event = events.photo_tag_changed(post_id=post_id, image_id=image_id, tagger_id=user, tagged_id=tagged,
                                     action="add", x=body.x, y=body.y, pending=decision)
    return await _publish(resources, settings, user, event, "write")


@router.delete(_TAGS + "/{user_id}", status_code=202, response_model=Accepted)
async def untag(post_id: PathId, image_id: PathId, user_id: PathId, user: CurrentUser, resources: ResourcesDep,
                settings: SettingsDep) -> Accepted:
    """The author removes anyone's tag; the tagged person removes their own (``tagger_id == tagged_id`` in the
    event: nobody is notified of that)."""
    await _settled(resources, settings, user, user_id)
    post = await _photo(resources, user, post_id, image_id, own_tag=user_id == user)
    tagged = parse_id(user_id, "user_id")
    if not may_remove(user, post["author_id"], tagged):
        raise ApiError(403, "forbidden", "only the post's author or the tagged person removes a tag")
    await _tag_of(resources, post_id, image_id, tagged)
    event = events.photo_tag_changed(post_id=post_id, image_id=image_id, tagger_id=user, tagged_id=tagged,
                                     action="remove")
    return await _publish(resources, settings, user, event, "write")


@router.post(_TAGS + "/{user_id}/approve", status_code=202, response_model=Accepted)
async def approve(post_id: PathId, image_id: PathId, user_id: PathId, user: CurrentUser, resources: ResourcesDep,
                  settings: SettingsDep) -> Accepted:
    """The tagged person approves a pending tag of themselves."""
    await _settled(resources, settings, user, user_id)
    await _photo(resources, user, post_id, image_id, own_tag=user_id == user)
    if parse_id(user_id, "user_id") != user:
        raise ApiError(403, "forbidden", "only the tagged person approves their tag")
    if not (await _tag_of(resources, post_id, image_id, user)).pending:
        raise ApiError(409, "conflict", "this tag is already approved", "user_id")
    event = events.photo_tag_changed(post_id=post_id, image_id=image_id, tagger_id=user, tagged_id=user,
                                     action="approve")
    return await _publish(resources, settings, user, event, "write")


@router.get("/users/me/tag-settings")
async def tag_settings(user: CurrentUser, resources: ResourcesDep, settings: SettingsDep, response: Response,
                       after: After = None) -> dict[str, Any]:
    """The caller's people-tag settings (changed with ``PATCH /users/me``: its token as ``?after=`` shows them)."""
    await honour_after(after, resources, settings, response)
    current = await resources.tag_settings.of(user)
    tags_from: Literal["everyone", "following"] = "following" if current.followed_only else "everyone"
    return {"tags_from": tags_from, "tags_manual_approval": current.manual_approval}


async def _tagged_page(resources: Any, viewer: str | None, table: str, tagged_id: str, kind: str, limit: int,
                       cursor: str | None) -> dict[str, Any]:
    items, position = await fill_page(
        lambda n, before: resources.photo_tags.post_ids(table, tagged_id, n, before),
        lambda ids: hydrate_posts(resources, viewer, ids),
        limit, decode_cursor(list_of(kind, tagged_id), cursor))
    return {"items": items, "next_cursor": encode_cursor(list_of(kind, tagged_id), position) if position else None}


@router.get("/users/me/tagged/pending")
async def pending_tags(user: CurrentUser, resources: ResourcesDep, settings: SettingsDep, response: Response,
                       limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None, after: After = None) -> dict[str, Any]:
    """The caller's tags waiting for their approval: the posts, newest first (each photo's ``photo_tags`` show
    the pending tag, ``pending: true``)."""
    await honour_after(after, resources, settings, response)
    return await _tagged_page(resources, user, PENDING, user, "tagged-pending", limit, cursor)


@router.get("/users/{user_id}/tagged")
async def photos_of(user_id: str, viewer: OptionalUser, resources: ResourcesDep, settings: SettingsDep,
                    response: Response, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None,
                    after: After = None) -> dict[str, Any]:
    """"Photos of you": the posts ``user_id`` is tagged in (approved tags), newest first, as the caller may see
    them; who may page it at all as for the account's other lists (:func:`api.visibility.require_account_lists`:
    a private account's is for its followers)."""
    user_id = parse_id(user_or_me(user_id, viewer), "user_id")
    await honour_after(after, resources, settings, response)
    await require_account_lists(resources, viewer, user_id)
    return await _tagged_page(resources, viewer, APPROVED, user_id, "tagged", limit, cursor)
