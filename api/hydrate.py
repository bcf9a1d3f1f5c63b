"""Hydration: post ids → the items clients show, with every read batched.

A page costs a constant number of round trips, whatever its length: the posts (one Redis MGET, the misses in
one Cassandra read), then concurrently the authors' profiles (their privacy with them; misses in one Cassandra
read), the engagement counts (misses in one Cassandra read), the viewer's relations and likes (Redis copies of
their partitions, :mod:`sinks.partition_cache`), the set of tagged posts (:mod:`sinks.tagged_posts`) — these
Redis reads go out as one pipeline (``resources.redis_reads``, :mod:`sinks.redis_batching`) — and the photos'
blurhash placeholders (a process cache, misses in one Cassandra read, ``photo_derivatives``); then the people
tags of the page's tagged posts only (one Cassandra read, ``photo_tags``; and, only if the page has tags, the
tagged users' profiles and blocks with the viewer, concurrently). ``blurhashes`` and ``photo_tags`` run
parallel to ``photos`` (``None`` where a photo has no placeholder yet; a list of tags per photo), so clients that
know only ``photos`` are unaffected. Every post returned passed :func:`api.visibility.visible_posts`; posts
that are gone or hidden from the viewer are skipped.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from api.images_links import ImageLinks, image_path
from api.visibility import visibility_of, visible_posts
from photostream.domain.photo_tags import shown_to
from photostream.domain.safety import blocked_either_way
from sinks.engagement_reads import Counts
from sinks.posts import read_posts_cached
from sinks.profiles import read_profiles

Item = dict[str, Any]


def image_url(image_id: str, links: ImageLinks | None = None) -> str:
    """Where a client fetches a photo; derived at read time, never stored (a new CDN host needs no migration).
    Public photos (and avatars) get the plain, CDN-cacheable path; with ``links`` (a non-public post's photos)
    the URL is a time-limited signed link, since an ``<img>`` carries no bearer token."""
    return image_path(image_id) if links is None else links.signed(image_id)


def author_of(user_id: str, profile: dict[str, Any] | None) -> Item:
    """A user as lists show them; a user whose profile is unknown still has an id."""
    avatar = profile.get("avatar_image_id") if profile else None
    return {"id": user_id, "username": profile.get("username") if profile else None,
            "avatar_url": image_url(avatar) if avatar else None}


async def authors(resources: Any, user_ids: list[str]) -> dict[str, Item]:
    """:func:`author_of` for many users, in bulk."""
    profiles = await read_profiles(resources.session, resources.redis, user_ids)
    return {u: author_of(u, profiles.get(u)) for u in user_ids}


async def _nothing_liked() -> set[str]:
    return set()


async def _no_blurhashes() -> dict[str, str]:
    return {}


async def _no_one() -> set[str]:
    return set()


async def photo_tags(resources: Any, viewer: str | None, posts: list[dict[str, Any]]
                     ) -> dict[tuple[str, str], list[Item]]:
    """The people tags ``viewer`` sees on each photo, by (post id, image id): approved ones, plus pending ones
    when the viewer is the tagged person or the post's author; never a user who stands in a block with the
    viewer. Each ``{user_id, username, x, y, pending}``."""
    author_of_post = {p["post_id"]: p["author_id"] for p in posts}
    if not author_of_post:
        return {}
    found = await resources.photo_tags.of_posts(author_of_post)
    shown = [t for tags in found.values() for t in tags if shown_to(t, viewer, author_of_post[t.post_id])]
    if not shown:
        return {}
    people = list(dict.fromkeys(t.tagged_id for t in shown))
    profiles, blocked = await asyncio.gather(
        read_profiles(resources.session, resources.redis, people),
        resources.graph.blocked_among(viewer, people) if viewer is not None else _no_one())
    by_photo: dict[tuple[str, str], list[Item]] = defaultdict(list)
    for tag in shown:
        if tag.tagged_id not in blocked:
            profile = profiles.get(tag.tagged_id)
            by_photo[(tag.post_id, tag.image_id)].append({
                "user_id": tag.tagged_id, "username": profile.get("username") if profile else None,
                "x": tag.x, "y": tag.y, "pending": tag.pending})
    return by_photo


async def _private(resources: Any, profiles: dict[str, dict[str, Any]]) -> set[str]:
    """Which of these authors are private, from the profiles the page read anyway (no second read of the same
    hashes); an author whose cached profile predates the flag is asked the durable way."""
    unknown = [a for a, p in profiles.items() if p.get("is_private") is None]
    asked = await resources.graph.private_among(unknown) if unknown else set()
    return {a for a, p in profiles.items() if p.get("is_private")} | asked


async def _visible(resources: Any, viewer: str | None, posts: list[dict[str, Any]],
                   profiles_read: asyncio.Future[dict[str, dict[str, Any]]],
                   relations_read: asyncio.Future[dict[str, Any]] | None
                   ) -> tuple[list[dict[str, Any] | None], set[str]]:
    """The visibility check, the authors' privacy taken from their profiles (``profiles_read``, read
    concurrently); given the viewer's relations with the authors (``relations_read``: ``hide_muted``), also
    leaves out the authors the viewer muted — from the same relations read the block check uses (one read for
    both questions). Returns the posts checked, and which authors are private accounts."""
    if relations_read is None:
        private = await _private(resources, await profiles_read)
        return await visible_posts(resources.graph, viewer, posts, private=private), private
    relations, profiles = await asyncio.gather(relations_read, profiles_read)
    muted = {a for a, r in relations.items() if r.i_mute}
    private = await _private(resources, profiles)
    visible = await visible_posts(resources.graph, viewer, posts, private=private,
                                  blocked={a for a, r in relations.items() if blocked_either_way(r)})
    return [p if p is not None and p["author_id"] not in muted else None for p in visible], private


def _seen_by_anyone(post: dict[str, Any], private_authors: set[str]) -> bool:
    """Whether anyone may see the post's photos, so their plain (CDN-cacheable) path loads in an ``<img>``,
    which carries no token: a public post by a public account. A private account's posts, even those marked
    public, are its followers' only: their photos need signed links."""
    return visibility_of(post) == "public" and post["author_id"] not in private_authors


async def hydrate_posts(resources: Any, viewer: str | None, post_ids: list[str],
                        hide_muted: bool = False, public_accounts_only: bool = False) -> list[Item]:
    """The items for ``post_ids``, in that order, skipping posts that are gone or that ``viewer`` may not see
    (and, with ``hide_muted``, posts by accounts the viewer muted; with ``public_accounts_only``, posts by private
    accounts, which a hashtag page leaves out even for their followers)."""
    posts = [p for p in await read_posts_cached(resources.session, resources.redis, post_ids, resources.redis_reads)
             if p is not None]
    ids = [p["post_id"] for p in posts]
    profiles_read = asyncio.ensure_future(read_profiles(resources.session, resources.redis,
                                                       [p["author_id"] for p in posts], resources.redis_reads))
    # started with the profiles, so its Redis read joins the same pipeline (a read started inside _visible
    # would begin a turn later and cost a round trip of its own)
    authors = {p["author_id"] for p in posts} - {viewer}
    relations_read = (asyncio.ensure_future(resources.safety.relations(viewer, authors))
                      if hide_muted and viewer is not None and authors else None)
    (visible, private), profiles, counts, liked, blurhashes, tags = await asyncio.gather(
        _visible(resources, viewer, posts, profiles_read, relations_read),
        profiles_read,
        resources.engagement.counts(ids),
        resources.engagement.liked_by(viewer, ids) if viewer is not None else _nothing_liked(),
        resources.derivatives.blurhashes([i for p in posts for i in p["image_ids"]]) if posts else _no_blurhashes(),
        photo_tags(resources, viewer, posts),
    )
    items: list[Item] = []
    for post in visible:
        if post is None or (public_accounts_only and post["author_id"] in private):
            continue
        post_id = post["post_id"]
        engagement = counts.get(post_id, Counts())
        items.append({
            "post_id": post_id,
            "author": author_of(post["author_id"], profiles.get(post["author_id"])),
            "caption": post["caption"],
            "photos": [image_url(i, None if _seen_by_anyone(post, private) else resources.image_links)
                       for i in post["image_ids"]],
            "blurhashes": [blurhashes.get(i) for i in post["image_ids"]],
            "photo_tags": [tags.get((post_id, i), []) for i in post["image_ids"]],
            "like_count": engagement.like_count,
            "comment_count": engagement.comment_count,
            "liked_by_me": post_id in liked,
            "created_at": post["created_at"],
            "visibility": visibility_of(post),
        })
    return items
