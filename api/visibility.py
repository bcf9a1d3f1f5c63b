"""Visibility on the API's read paths: every post a read returns passes through :func:`visible_posts`.

The rule itself is pure (:mod:`photostream.domain.visibility`); this module prefetches, per page and in bulk,
the facts it needs (no N+1): which of the page's authors are private accounts, which of them the viewer
follows (asked only where it decides: followers-only posts and private accounts), and which of them the viewer
blocked or is blocked by — IN queries run concurrently, so a page costs one round trip of visibility checks
(two when a page holds a private account's posts).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from typing import Any, Protocol

from api.errors import ApiError
from photostream.domain.visibility import may_see
from sinks.profiles import read_profile

Post = dict[str, Any]


class Audience(Protocol):
    """What a visibility check reads (:class:`sinks.accounts_privacy.AudienceReader`)."""

    async def followed_among(self, follower_id: str, candidates: Iterable[str]) -> set[str]: ...

    async def private_among(self, user_ids: Iterable[str]) -> set[str]: ...

    async def blocked_among(self, user_id: str, others: Iterable[str]) -> set[str]: ...


async def blocked_with(resources: Any, viewer: str | None, others: Iterable[str]) -> set[str]:
    """Who among ``others`` stands in a block with ``viewer`` either way (nobody, for an anonymous viewer): the
    people lists, comments and notifications leave them out, as the profile and the posts already do."""
    asked = set(others) - {viewer}
    if viewer is None or not asked:
        return set()
    blocked: set[str] = await resources.graph.blocked_among(viewer, asked)
    return blocked


async def require_account_lists(resources: Any, viewer: str | None, user_id: str) -> None:
    """May ``viewer`` page ``user_id``'s lists (profile grid, followers, following, photos of them)? 404 "no
    such user" if the account has no profile (never registered, or deleted) or a block stands between the two:
    one answer for both, so a list never tells "blocked" from "absent" (an empty grid page that still carried a
    cursor told a blocked caller the account exists and, page by page, roughly how many posts it has); 403 if
    the account is private and the viewer does not follow it (its profile already says that much)."""
    if viewer == user_id:
        return
    profile, blocked, private, followed = await asyncio.gather(
        read_profile(resources.session, resources.redis, user_id),
        blocked_with(resources, viewer, [user_id]),
        resources.graph.private_among([user_id]),
        resources.graph.followed_among(viewer, [user_id]) if viewer is not None else _none())
    if profile is None or blocked:
        raise ApiError(404, "not_found", "no such user", "user_id")
    if user_id in private and user_id not in followed:
        raise ApiError(403, "forbidden", "a private account's lists are for its followers")


def visibility_of(post: Post) -> str:
    """Rows written from post-created v1 (before the field existed) were public by that schema's default."""
    return str(post.get("visibility") or "public")


async def _none() -> set[str]:
    return set()


async def known_or_read(*answers: set[str] | Awaitable[set[str]]) -> list[set[str]]:
    """Each answer as it is when already known, else awaited: the reads together (``asyncio.gather``), a lone read
    directly. Only real reads cost a task: wrapping the known ones too made three of a feed page's sixteen."""
    reads = [a for a in answers if not isinstance(a, set)]
    read = await asyncio.gather(*reads) if len(reads) > 1 else [await r for r in reads]
    done = iter(read)
    return [a if isinstance(a, set) else next(done) for a in answers]


async def visible_posts(graph: Audience, viewer: str | None, posts: Sequence[Post | None],
                        blocked: set[str] | None = None, private: set[str] | None = None) -> list[Post | None]:
    """``posts`` in order, with each one the viewer may not see replaced by None (as if it did not exist).

    ``blocked``: who among the authors stands in a block with the viewer, when the caller already read it;
    ``private``: which of the authors are private accounts, when the caller already read their profiles."""
    # every author but the viewer, of posts that are not author-only: whether they are private matters, and
    # (for a signed-in viewer) whether a block stands between them — asked together. Whether the viewer
    # follows them matters only for followers-only posts and private accounts: asked with the others when the
    # page has a followers-only post, else afterwards and only for private accounts, so a page of public posts
    # by public accounts (most pages) costs no follow query.
    others = {p["author_id"] for p in posts
              if p is not None and p["author_id"] != viewer and visibility_of(p) != "private"}
    followers_only = {p["author_id"] for p in posts if p is not None and visibility_of(p) == "followers"} & others
    locked: set[str] = set()  # private accounts
    followed: set[str] = set()
    standing: set[str] = set()  # blocked either way
    privacy = private & others if private is not None else graph.private_among(others) if others else set()
    if viewer is None or not others:
        (locked,) = await known_or_read(privacy)
    else:
        locked, followed, standing = await known_or_read(
            privacy,
            graph.followed_among(viewer, others) if followers_only else set(),
            blocked if blocked is not None else graph.blocked_among(viewer, others),
        )
        if locked and not followers_only:
            followed = await graph.followed_among(viewer, locked)
    return [p if p is not None and may_see(viewer, p["author_id"], visibility_of(p), p["author_id"] in followed,
                                           p["author_id"] in locked, p["author_id"] in standing)
            else None for p in posts]


async def visible_post(graph: Audience, viewer: str | None, post: Post | None) -> Post | None:
    return (await visible_posts(graph, viewer, [post]))[0]
