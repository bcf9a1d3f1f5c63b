"""The write gateway: validate, authorise, rate-limit, publish; answer 202 with the event id and a token.

These handlers never write Cassandra or a view: the event log is the only thing they change (Redis remembers
each write for a minute, :mod:`api.pending_writes`, so that a decision read from a view first waits for the
writes of the people it involves). The posts view is read to answer 403 before publishing someone else's
delete, and 404 for a like or comment on a post that does not exist or that the caller may not see; a delete
of a post the caller may not see is a 404 too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api import idempotency, pending_writes, ratelimit
from api.consistency import ConsistencyToken, token_key
from api.deps import CurrentUser, ResourcesDep, SettingsDep, parse_id, per_app
from api.errors import ApiError
from api.routes.uploads import require_own_completed
from api.visibility import visible_post
from producers import events
from producers.events import Event
from producers.ids import now_ms
from sinks.accounts_requests import FollowRequests
from sinks.posts import read_post, read_posts_cached
from sinks.profiles import read_profile
from sinks.revocations import closed_among

router = APIRouter(tags=["writes"])


class Accepted(BaseModel):
    """202 body: the event's id and a token that later reads accept as ``?after=``."""

    event_id: str
    token: str
    id: str | None = Field(default=None, description="id of the resource created, if any")


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)

    @field_validator("lat", "lon", mode="before")
    @classmethod
    def _a_number(cls, value: Any) -> Any:
        """``true`` is no coordinate (pydantic's lax mode read it as 1.0)."""
        if isinstance(value, bool):
            raise ValueError("a number of degrees, not a boolean")
        return value


class PostCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    caption: str = Field(default="", max_length=events.MAX_CAPTION_CHARS)
    image_ids: list[str] = Field(min_length=1, max_length=events.MAX_IMAGES)
    visibility: Literal["public", "followers", "private"] = "public"
    location: LocationIn | None = None

    @field_validator("image_ids")
    @classmethod
    def _each_photo_once(cls, image_ids: list[str]) -> list[str]:
        if len(set(image_ids)) != len(image_ids):
            raise ValueError("each photo at most once")
        return image_ids


class CommentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=events.MAX_COMMENT_CHARS)


PathId = Annotated[str, Path(description="a UUID")]


async def _publish(resources: Any, settings: Any, user_id: str, event: Event, action: str,
                   created_id: str | None = None) -> Accepted:
    if action in ("post", "report"):  # each its own bucket; reports are as scarce as posts
        limit = ratelimit.Limit(settings.rate_limit_posts_per_minute, settings.rate_limit_posts_burst)
    else:
        limit = ratelimit.Limit(settings.rate_limit_writes_per_minute, settings.rate_limit_writes_burst)
    decision = await ratelimit.take(resources.redis, user_id, action, limit)
    if not decision.allowed:
        raise ApiError(429, "rate_limited", f"too many {action} requests; retry in {decision.retry_after_s}s",
                       headers={"Retry-After": str(decision.retry_after_s)})
    result = await pending_writes.publish(resources, event)
    token = ConsistencyToken(result.topic, result.partition, result.offset, user_id).encode(token_key(settings))
    return Accepted(event_id=event.event_id, token=token, id=created_id)


#: a client's key for a write it may send again (``api.idempotency``)
IdempotencyKey = Annotated[str | None, Header(alias=idempotency.HEADER, description=(
    "any unique value (a UUID): the same request sent again with it gets the first answer, not a second post"))]


async def _once(resources: Any, claim: idempotency.Claim, write: Callable[[], Awaitable[Accepted]]) -> Accepted:
    """The write's answer, kept for its key; the kept one if the same request was answered before (no second
    post). A write refused before publishing (an :class:`ApiError`: nothing is published after one) forgets its
    key; one that failed while publishing frees it for the repeat at once, with the same ids (the event may
    have landed all the same)."""
    if claim.answer is not None:
        return Accepted(**claim.answer)
    try:
        accepted = await write()
    except ApiError:
        await idempotency.forget(resources.redis, claim)
        raise
    except BaseException:
        await idempotency.release(resources.redis, claim)
        raise
    await idempotency.keep(resources.redis, claim, accepted.model_dump())
    return accepted


@router.post("/posts", status_code=202, response_model=Accepted)
async def create_post(body: PostCreate, user: CurrentUser, resources: ResourcesDep, settings: SettingsDep,
                      idempotency_key: IdempotencyKey = None) -> Accepted:
    claim = await idempotency.claim(resources.redis, user, idempotency_key, "POST /posts",
                                    body.model_dump(mode="json"), ("post", "event"))
    return await _once(resources, claim, lambda: _create_post(body, user, resources, settings, claim))


async def _create_post(body: PostCreate, user: str, resources: Any, settings: Any,
                       claim: idempotency.Claim) -> Accepted:
    event = events.post_created(
        author_id=user, caption=body.caption, image_ids=body.image_ids, visibility=body.visibility,
        location=body.location.model_dump() if body.location else None, post_id=claim.id_for("post"),
        event_id=claim.id_for("event"),
    )
    await require_own_completed(resources, user, body.image_ids)
    return await _publish(resources, settings, user, event, "post", event.value["post_id"])


@router.delete("/posts/{post_id}", status_code=202, response_model=Accepted)
async def delete_post(post_id: PathId, user: CurrentUser, resources: ResourcesDep, settings: SettingsDep) -> Accepted:
    parse_id(post_id, "post_id")
    # the caller's posts and deletions of a moment ago first: their own new post is found, and a delete sent
    # twice (a retry) is a 404 the second time, not a second 202 (one Redis round trip when nothing is pending)
    await pending_writes.settle(resources, settings, [user], pending_writes.DELETING)
    post = await read_post(resources.session, post_id)
    if post is None:
        raise ApiError(404, "not_found", "no such post", "post_id")
    if post["author_id"] != user:
        if await visible_post(resources.graph, user, post) is None:  # a refusal never confirms a hidden post
            raise ApiError(404, "not_found", "no such post", "post_id")
        raise ApiError(403, "forbidden", "only the author can delete a post")
    event = events.post_deleted(post_id=post_id, author_id=user)
    return await _publish(resources, settings, user, event, "write")


def _no_such(field: str) -> ApiError:
    return ApiError(404, "not_found", f"no such {field.removesuffix('_id')}", field)


def _unless_absent(resources: Any, user: str, other: str) -> Callable[[], Awaitable[ApiError | None]]:
    """For a settle about ``other``: the 404 of an absent user when, on the state as it is, ``other`` is one to
    ``user`` (no profile, or a block either way), so a 503 never tells a blocked user the blocker exists."""
    async def absent() -> ApiError | None:
        profile, blocked = await asyncio.gather(read_profile(resources.session, resources.redis, other),
                                                resources.graph.blocked_among(user, [other]))
        return _no_such("user_id") if profile is None or blocked else None
    return absent


@router.post("/users/{user_id}/follow", status_code=202, response_model=Accepted)
async def follow(user_id: PathId, user: CurrentUser, resources: ResourcesDep, settings: SettingsDep) -> Accepted:
    """A follow; to a private account not followed yet, a follow request (its owner approves or denies). An
    account without a profile (never registered, or deleted) is a 404, and so is one blocked either way: the
    same answer (a follow of an unknown id was accepted, which told "blocked" from "absent", and counted
    follows of nobody)."""
    followee = _other_than(user, user_id)
    event = events.follow_changed(follower_id=user, followee_id=followee, action="follow")  # validates first
    await pending_writes.settle(resources, settings, [user, followee], pending_writes.FOLLOWING,
                                unless_hidden=_unless_absent(resources, user, followee))
    profile, private, followed, blocked, closed = await asyncio.gather(
        read_profile(resources.session, resources.redis, followee), resources.graph.private_among([followee]),
        resources.graph.followed_among(user, [followee]), resources.graph.blocked_among(user, [followee]),
        closed_among(resources.redis, resources.session, [followee]))
    if profile is None or blocked or closed:
        raise ApiError(404, "not_found", "no such user", "user_id")
    if followee in private and followee not in followed:
        event = events.follow_requested(follower_id=user, followee_id=followee, action="request")
    return await _publish(resources, settings, user, event, "write")


def _other_than(user: str, user_id: str) -> str:
    """The path's user id, if it is an id and not the caller's own (the 422 names the path's field)."""
    if parse_id(user_id, "user_id") == user:
        raise ApiError(422, "invalid", "user_id: a user cannot follow themself", "user_id")
    return user_id


@router.delete("/users/{user_id}/follow", status_code=202, response_model=Accepted)
async def unfollow(user_id: PathId, request: Request, user: CurrentUser, resources: ResourcesDep,
                   settings: SettingsDep) -> Accepted:
    """An unfollow; a follow request still pending (to a private account) is withdrawn: closed as a denial
    closes it, so it leaves the owner's list and can no longer be approved. The token is the withdrawal's then."""
    followee = _other_than(user, user_id)
    event = events.follow_changed(follower_id=user, followee_id=followee, action="unfollow")  # validates first
    await pending_writes.settle(resources, settings, [user, followee], pending_writes.FOLLOWING)
    requests = per_app(request, FollowRequests, lambda state: FollowRequests(state.resources.session))
    if not await requests.is_pending(followee, user):
        return await _publish(resources, settings, user, event, "write")
    withdrawn = await _publish(resources, settings, user,
                               events.follow_requested(follower_id=user, followee_id=followee, action="deny"), "write")
    await pending_writes.publish(resources, event)  # an approval already on its way must not end in a follow
    return withdrawn


async def _engageable(resources: Any, settings: Any, user: str, post_id: str,
                      own_like_is_enough: bool = False) -> dict[str, Any]:
    """The post, if it exists and ``user`` may see it (which a block either way rules out): likes and
    comments on anything else are a 404 (the same answer as for a post that does not exist, so a refusal never
    confirms a hidden post).

    The visibility decision first waits for the writes of a moment ago of the caller and the author that it
    reads (a block, an unfollow, an account turned private, the post's deletion: :data:`pending_writes.ENGAGING`):
    a comment sent right after its author was blocked was accepted, and stayed readable by everyone but the
    blocker; a like sent the moment the post was deleted was accepted, and stayed in the liker's export. That
    costs one Redis round trip when nothing is pending (and the post is read again only when something was).

    ``own_like_is_enough`` (an unlike): a post the caller likes may be unliked even once they may not see it
    (its author went private): their like stayed counted, and nothing can be taken back (they know the post)."""
    parse_id(post_id, "post_id")
    posts = await read_posts_cached(resources.session, resources.redis, [post_id])
    if posts[0] is None and await pending_writes.settle(resources, settings, [user, post_id],
                                                        pending_writes.POSTING):
        # their own post of a moment ago, or anyone's that was just published (only then: a like of a post
        # already there pays no extra round trip)
        posts = await read_posts_cached(resources.session, resources.redis, [post_id])

    async def as_it_is() -> dict[str, Any] | None:
        """The post if the caller may engage with it on the state as it is (or unlike it: their own like)."""
        post = await visible_post(resources.graph, user, posts[0])
        if post is None and own_like_is_enough and posts[0] is not None \
                and post_id in await resources.engagement.liked_by(user, [post_id]):
            return dict(posts[0])
        return post

    async def hidden() -> ApiError | None:
        return None if await as_it_is() is not None else _no_such("post_id")

    if posts[0] is not None and await pending_writes.settle(
            resources, settings, [user, posts[0]["author_id"]], pending_writes.ENGAGING, unless_hidden=hidden):
        posts = await read_posts_cached(resources.session, resources.redis, [post_id])  # (deleted a moment ago?)
    post = await as_it_is()
    if post is None or await closed_among(resources.redis, resources.session, [post["author_id"]]):
        raise _no_such("post_id")  # (an author whose deletion is accepted: their posts are on their way out)
    return post


@router.post("/posts/{post_id}/like", status_code=202, response_model=Accepted)
async def like(post_id: PathId, user: CurrentUser, resources: ResourcesDep, settings: SettingsDep) -> Accepted:
    post = await _engageable(resources, settings, user, post_id)
    event = events.like_changed(post_id=post_id, user_id=user, action="like", post_author_id=post["author_id"])
    return await _publish(resources, settings, user, event, "write")


@router.delete("/posts/{post_id}/like", status_code=202, response_model=Accepted)
async def unlike(post_id: PathId, user: CurrentUser, resources: ResourcesDep, settings: SettingsDep) -> Accepted:
    post = await _engageable(resources, settings, user, post_id, own_like_is_enough=True)
    event = events.like_changed(post_id=post_id, user_id=user, action="unlike", post_author_id=post["author_id"])
    return await _publish(resources, settings, user, event, "write")


@router.post("/posts/{post_id}/comments", status_code=202, response_model=Accepted)
async def comment(post_id: PathId, body: CommentCreate, user: CurrentUser, resources: ResourcesDep,
                  settings: SettingsDep, idempotency_key: IdempotencyKey = None) -> Accepted:
    claim = await idempotency.claim(resources.redis, user, idempotency_key, f"POST /posts/{post_id}/comments",
                                    body.model_dump(mode="json"), ("comment", "event"))
    return await _once(resources, claim, lambda: _comment(post_id, body, user, resources, settings, claim))


async def _comment(post_id: str, body: CommentCreate, user: str, resources: Any, settings: Any,
                   claim: idempotency.Claim) -> Accepted:
    post = await _engageable(resources, settings, user, post_id)
    event = events.comment_added(post_id=post_id, user_id=user, text=body.text, post_author_id=post["author_id"],
                                 comment_id=claim.id_for("comment"), event_id=claim.id_for("event"))
    return await _publish(resources, settings, user, event, "write", event.value["comment_id"])


@router.delete("/posts/{post_id}/comments/{comment_id}", status_code=202, response_model=Accepted)
async def delete_comment(post_id: PathId, comment_id: PathId, user: CurrentUser, resources: ResourcesDep,
                         settings: SettingsDep) -> Accepted:
    """A comment's author may delete it, whoever may see the post now, even once it is deleted (the words are
    theirs; they know the post: an export kept listing a comment on a deleted post that nobody could delete); the
    post's author may delete any comment on it. Anyone else: 403 on a post they may see, 404 on one they may
    not (a refusal never confirms a hidden post or its comments). The caller's comment or deletion of a
    moment ago is waited for first, so a delete right after the comment finds it, and a second delete is a 404."""
    parse_id(post_id, "post_id")
    parse_id(comment_id, "comment_id")
    await pending_writes.settle(resources, settings, [user], pending_writes.COMMENTING)
    post, found = await asyncio.gather(read_posts_cached(resources.session, resources.redis, [post_id]),
                                       resources.comments.one(post_id, comment_id))
    if found is None or found.user_id != user:  # (their own comment: even on a post deleted since)
        if post[0] is None or await visible_post(resources.graph, user, post[0]) is None:
            raise ApiError(404, "not_found", "no such post", "post_id")
        if found is None:
            raise ApiError(404, "not_found", "no such comment", "comment_id")
        if post[0]["author_id"] != user:
            raise ApiError(403, "forbidden", "only the comment's author or the post's author can delete a comment")
    # (a comment a producer timed ahead of this clock is deletable too: its time, as the SDK takes it)
    event = events.comment_deleted(post_id=post_id, comment_id=comment_id, user_id=found.user_id, actor_id=user,
                                   commented_at=min(found.created_at, now_ms()))
    return await _publish(resources, settings, user, event, "write")
