"""Search by what a user typed: accounts by the start of their username or of a word of their name
(``GET /search/users?q=``: a friend to follow, an ``@mention`` to complete) and hashtags by their start
(``GET /search/hashtags?q=``).

Accounts come from ``users_by_prefix`` (:mod:`sinks.user_search`, checked against the profiles' own rows) and
tags from ``hashtags_by_prefix`` (:mod:`sinks.hashtag_search`). Accounts come in term order, so an exact username
comes first; tags the exact one first, then by use, as people look for the tags others use.
Private accounts are found (their profile is public; their posts are not), as on every photo service; an account
in a block with the caller either way is left out, as absent; so are the caller's muted tags, and tags no post
carries any more.
"""

from __future__ import annotations

import asyncio
import unicodedata
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.consistency import TAG_PAGES
from api.deps import OptionalUser, ResourcesDep, SettingsDep, per_app
from api.errors import ApiError
from api.hydrate import author_of
from api.routes.reads import After, honour_after
from api.visibility import blocked_with
from photostream.domain.tags import MAX_TAG_LENGTH, normalize_tag
from sinks.hashtag_search import HashtagSearch
from sinks.prefix_index import PREFIX_CHARS
from sinks.profiles import read_profiles
from sinks.user_search import UserSearch, query_words

router = APIRouter(tags=["search"])

MAX_RESULTS = 50
#: the tags starting with a query that are ranked by use (the first by name: one range read, one count lookup)
TAGS_RANKED = 200
#: the words a user query may hold ("zoe sal")
MAX_QUERY_WORDS = 5


@router.get("/search/users")
async def search_users(request: Request, viewer: OptionalUser, resources: ResourcesDep, settings: SettingsDep,
                       response: Response,
                       q: Annotated[str, Query(max_length=100, description="the start of a username or name")],
                       limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 20,
                       after: After = None) -> dict[str, Any]:
    """``{items: [{id, username, display_name, avatar_url, is_private}]}``: up to ``limit`` accounts such that
    each word of ``q`` starts their username or a word of their display name (any case, accents or not, an
    ``@`` before a username allowed), in the order of the longest word's match: an exact username first."""
    words = query_words(q)
    if not words or len(words[0]) < PREFIX_CHARS or len(words) > MAX_QUERY_WORDS:
        raise ApiError(422, "invalid", f"q: up to {MAX_QUERY_WORDS} words, one of at least {PREFIX_CHARS} letters "
                                       "or digits (the start of a username or name)", "q")
    await honour_after(after, resources, settings, response)
    search = per_app(request, UserSearch, lambda state: UserSearch(state.resources.session))
    found = await search.matches(words, limit, lambda ids: read_profiles(resources.session, resources.redis, ids))
    hidden = await blocked_with(resources, viewer, [user for user, _ in found])
    return {"items": [author_of(user, profile) | {"display_name": profile.get("display_name"),
                                                  "is_private": bool(profile.get("is_private"))}
                      for user, profile in found if user not in hidden]}


def tag_query(q: str) -> str:
    """The canonical start of a tag (as tags are stored: NFKC, case-folded, without ``#``), or a 422 naming
    ``q``. Checked as the start of a tag: an ending letter makes a prefix of digits (``12`` of ``#12days``) a
    tag."""
    text = unicodedata.normalize("NFKC", q.strip()).removeprefix("#")
    folded = unicodedata.normalize("NFKC", text.casefold())
    if len(folded) < PREFIX_CHARS or normalize_tag(folded + "a") != folded + "a":
        raise ApiError(422, "invalid", f"q: at least {PREFIX_CHARS} characters that start a hashtag", "q")
    return folded


async def _no_tags() -> set[str]:
    return set()


@router.get("/search/hashtags")
async def search_hashtags(request: Request, viewer: OptionalUser, resources: ResourcesDep, settings: SettingsDep,
                          response: Response,
                          q: Annotated[str, Query(max_length=MAX_TAG_LENGTH + 1, description="the start of a tag")],
                          limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 20,
                          after: After = None) -> dict[str, Any]:
    """``{items: [{tag, post_count}]}``: up to ``limit`` hashtags starting with ``q`` (any case or width, a ``#``
    before it allowed), the tag ``q`` names first, then the most used (of the first :data:`TAGS_RANKED` by name);
    tags no post carries any more and the caller's muted tags left out."""
    query = tag_query(q)
    await honour_after(after, resources, settings, response, TAG_PAGES)  # (a post's token: its tags counted)
    search = per_app(request, HashtagSearch, lambda state: HashtagSearch(state.resources.session))
    candidates = await search.candidates(query, TAGS_RANKED)
    counts, muted = await asyncio.gather(resources.hashtags.post_counts(candidates),
                                         resources.safety.muted_tags(viewer) if viewer else _no_tags())
    shown = sorted((tag for tag in candidates if counts.get(tag, 0) > 0 and tag not in muted),
                   key=lambda tag: (tag != query, -counts[tag], tag))
    return {"items": [{"tag": tag, "post_count": counts[tag]} for tag in shown[:limit]]}
