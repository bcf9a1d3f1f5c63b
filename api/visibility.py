"""Visibility on the API's read paths: every post a read returns passes through :func:`visible_posts`.

The rule itself is pure (:mod:`photostream.domain.visibility`); this module prefetches, in one bulk read per
page, whether the viewer follows the authors whose followers-only posts are on it (no N+1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from photostream.domain.visibility import may_see, needs_follow_check
from sinks.graph import GraphReader

Post = dict[str, Any]


def visibility_of(post: Post) -> str:
    """Rows written from post-created v1 (before the field existed) were public by that schema's default."""
    return str(post.get("visibility") or "public")


async def visible_posts(graph: GraphReader, viewer: str | None, posts: Sequence[Post | None]) -> list[Post | None]:
    """``posts`` in order, with each one the viewer may not see replaced by None (as if it did not exist)."""
    authors = {p["author_id"] for p in posts
               if p is not None and needs_follow_check(viewer, p["author_id"], visibility_of(p))}
    followed = await graph.followed_among(viewer, authors) if viewer is not None and authors else set()
    return [p if p is not None and may_see(viewer, p["author_id"], visibility_of(p), p["author_id"] in followed)
            else None for p in posts]


async def visible_post(graph: GraphReader, viewer: str | None, post: Post | None) -> Post | None:
    return (await visible_posts(graph, viewer, [post]))[0]
