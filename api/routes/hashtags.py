"""Hashtag reads: a tag's summary, its newest posts, and what is trending."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response

from api.consistency import TAG_PAGES
from api.deps import OptionalUser, ResourcesDep, SettingsDep
from api.errors import ApiError
from api.hydrate import hydrate_posts
from api.paging import Cursor, decode_cursor, encode_cursor, list_of
from api.routes.reads import After, honour_after
from api.visibility import blocked_with
from photostream.domain.safety import muted_tags_hidden
from photostream.domain.tags import MAX_TAG_LENGTH, normalize_tag
from sinks import keys
from sinks.hashtags.reads import HashtagReads
from sinks.trending_reader import trending as compute_trending

router = APIRouter(tags=["hashtags"])
TOP_POSTS_SHOWN = 9
#: top posts the shared answer holds, so a viewer's blocks (of a spammer flooding the tag, most often) leave the
#: shown nine full: it held nine, and a viewer who blocked their authors saw the top section empty
TOP_POST_CANDIDATES = 3 * TOP_POSTS_SHOWN


#: a tag as sent: its canonical form is at most ``MAX_TAG_LENGTH`` characters, and NFKC composes at most a few
#: sent characters into one (Hangul jamo: three), so a longer one is never a tag (documented for clients)
TagPath = Annotated[str, Path(min_length=1, max_length=4 * MAX_TAG_LENGTH, description="a hashtag, with or "
                                                                                     "without its #")]


def canonical(tag: str) -> str:
    normalized = normalize_tag(tag)
    if normalized is None:
        raise ApiError(422, "invalid", "tag: not a valid hashtag", "tag")
    return normalized


async def top_items(resources: Any, post_ids: list[str]) -> list[dict[str, Any]]:
    """The top posts as an anonymous reader sees them, hydrated as feed and grid items are (author, photo
    links, counts, approved people tags), so a client renders them with the code that renders any post. A tag
    holds public posts only, but a private account's public posts are for its followers: they are left out.
    This answer is shared by every reader for a moment; :func:`for_viewer` then applies what is personal."""
    return await hydrate_posts(resources, None, post_ids, public_accounts_only=True)


async def for_viewer(resources: Any, viewer: str | None, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The shared items as this viewer sees them: posts by authors in a block with the viewer out, people tags
    of users in a block with the viewer out, and ``liked_by_me`` the viewer's own (one read for the page)."""
    if viewer is None or not items:
        return items
    ids = [item["post_id"] for item in items]
    people = {item["author"]["id"] for item in items} | {
        tag["user_id"] for item in items for tags in item["photo_tags"] for tag in tags}
    blocked, liked = await asyncio.gather(blocked_with(resources, viewer, people),
                                          resources.engagement.liked_by(viewer, ids))
    return [item | {"liked_by_me": item["post_id"] in liked,
                    "photo_tags": [[t for t in tags if t["user_id"] not in blocked] for tags in item["photo_tags"]]}
            for item in items if item["author"]["id"] not in blocked]


async def _muted_tags(resources: Any, viewer: str | None) -> set[str]:
    """The viewer's muted hashtags (one read; none for an anonymous caller)."""
    return set() if viewer is None else set(await resources.safety.muted_tags(viewer))


async def _not_muted(resources: Any, viewer: str | None, name: str) -> set[str]:
    """A tag the viewer muted is hidden from them: its pages answer 404, as for a tag never used."""
    muted = await _muted_tags(resources, viewer)
    if name in muted:
        raise ApiError(404, "not_found", f"no posts have ever used #{name}", "tag")
    return muted


@router.get("/hashtags/{tag}")
async def get_hashtag(tag: TagPath, resources: ResourcesDep, settings: SettingsDep, viewer: OptionalUser,
                      response: Response, after: After = None) -> dict[str, Any]:
    """``after``: the write behind the token is applied by its own views before the answer (a mute of the tag:
    its pages answer 404 at once). A post's token waits for the post's views, not for the tag's count, which
    the counter settles per window (``HASHTAG_FLUSH_S``)."""
    name = canonical(tag)
    await honour_after(after, resources, settings, response, TAG_PAGES)
    muted = await _not_muted(resources, viewer, name)
    # hot tags: the counts move once per window anyway, so one reading serves every reader for a moment; a
    # reader with a token reads afresh (the shared answer, made before the write, showed a post just deleted,
    # or a like count of 0 beside the reader's own like)
    if after is None:
        body = await resources.hashtag_responses.get(name, lambda: _summary(resources, name))
    else:
        body = await _summary(resources, name)
    return await _personal(resources, viewer, body, muted)


async def _summary(resources: Any, name: str) -> dict[str, Any]:
    """A tag's page as an anonymous reader sees it: count, top posts, related tags."""
    store: HashtagReads = resources.hashtags
    count = await store.post_count(name)
    if count is None:
        raise ApiError(404, "not_found", f"no posts have ever used #{name}", "tag")
    top = await resources.redis.zrevrange(keys.hashtag_top(name), 0, TOP_POST_CANDIDATES - 1)
    if not top:  # not hot: the newest posts from Cassandra stand in
        top = await store.newest_posts(name, TOP_POST_CANDIDATES, None)
    top_posts, related = await asyncio.gather(top_items(resources, list(top)), store.related(name))
    return {"tag": name, "post_count": count, "top_posts": top_posts, "related": related}


async def _personal(resources: Any, viewer: str | None, body: dict[str, Any], muted: set[str]) -> dict[str, Any]:
    """The shared summary as this viewer sees it: muted tags out of ``related``, blocked authors' posts out, then
    the first :data:`TOP_POSTS_SHOWN` of the candidates."""
    if viewer is None:
        return body | {"top_posts": body["top_posts"][:TOP_POSTS_SHOWN]}
    shown = (await for_viewer(resources, viewer, body["top_posts"]))[:TOP_POSTS_SHOWN]
    personal = body | {"top_posts": shown}
    return personal | {"related": muted_tags_hidden(body["related"], muted)} if muted else personal


@router.get("/hashtags/{tag}/posts")
async def hashtag_posts(
    tag: TagPath, resources: ResourcesDep, settings: SettingsDep, viewer: OptionalUser, response: Response,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: After = None,
) -> dict[str, Any]:
    name = canonical(tag)
    await honour_after(after, resources, settings, response, TAG_PAGES)
    await _not_muted(resources, viewer, name)
    listing = list_of("tag", name)  # a cursor is this tag's list's own: another list's (or tag's) is a 422
    position = decode_cursor(listing, cursor)
    store: HashtagReads = resources.hashtags
    post_ids = await store.newest_posts(name, limit, position)
    if not post_ids and position is None and await store.post_count(name) is None:
        raise ApiError(404, "not_found", f"no posts have ever used #{name}", "tag")
    # hydrated as feed and grid items are (author, photo links, counts, liked_by_me), for this viewer
    return {"tag": name, "items": await hydrate_posts(resources, viewer, post_ids, public_accounts_only=True),
            "next_cursor": encode_cursor(listing, post_ids[-1]) if len(post_ids) == limit else None}


@router.get("/trending")
async def get_trending(resources: ResourcesDep, settings: SettingsDep, viewer: OptionalUser, response: Response,
                       window: Literal["1h", "24h"] = "1h",
                       limit: Annotated[int, Query(ge=1, le=100)] = 20, after: After = None) -> list[dict[str, Any]]:
    """What is trending, less the tags the viewer muted (``after``: a mute's token is applied first)."""
    await honour_after(after, resources, settings, response, TAG_PAGES)
    trends, muted = await asyncio.gather(
        compute_trending(resources.redis, window, int(time.time() * 1000), settings.trending_min_authors),
        _muted_tags(resources, viewer))
    return [{"tag": t.tag, "count": t.count, "velocity": t.velocity} for t in trends
            if t.tag not in muted][:limit]
