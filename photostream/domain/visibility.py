"""Who may see a post: the one rule every read path applies (post page, images, feeds, grids, comments).

Pure: the caller prefetches whether the viewer follows each author (in bulk, see ``needs_follow_check``) and
passes it in. A post the viewer may not see is answered exactly like a post that does not exist (404), so a
refusal never confirms that something is there.
"""

from __future__ import annotations

from typing import Literal

Visibility = Literal["public", "followers", "private"]
VISIBILITIES: tuple[Visibility, ...] = ("public", "followers", "private")


def needs_follow_check(viewer: str | None, author_id: str, visibility: str, author_is_private: bool = False) -> bool:
    """True when the answer of :func:`may_see` depends on whether ``viewer`` follows ``author_id``."""
    return (visibility == "followers" or (visibility == "public" and author_is_private)) \
        and viewer is not None and viewer != author_id


def may_see(viewer: str | None, author_id: str, visibility: str, viewer_follows_author: bool = False,
            author_is_private: bool = False, blocked: bool = False) -> bool:
    """Whether ``viewer`` (None: anonymous) may see a post of ``author_id`` with ``visibility``.

    public: everyone; followers: the author and their followers; private: the author only. An unknown
    visibility value is treated as private (fail closed). A private account's posts are never shown beyond
    its followers, whatever their own visibility says (switching back to public restores them). ``blocked``:
    the viewer and the author blocked each other, either way (:mod:`photostream.domain.safety`): nothing of
    one is shown to the other.
    """
    if viewer is not None and viewer == author_id:
        return True
    if blocked:
        return False
    if visibility == "public":
        return not author_is_private or (viewer is not None and viewer_follows_author)
    if visibility == "followers":
        return viewer is not None and viewer_follows_author
    return False
