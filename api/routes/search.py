"""User search: ``GET /search/users?q=``, the accounts whose username starts with what the user typed (a
friend to follow, an ``@mention`` to complete).

Names come from the profiles' own rows through ``usernames_by_prefix`` (:mod:`sinks.user_search`), in name order,
so an exact name comes first. Private accounts are found (their profile is public; their posts are not), as on
every photo service; an account in a block with the caller either way is left out, as absent.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.deps import OptionalUser, ResourcesDep, SettingsDep, per_app
from api.errors import ApiError
from api.hydrate import author_of
from api.routes.reads import After, honour_after
from api.visibility import blocked_with
from photostream.domain.accounts import USERNAME_MAX
from sinks.profiles import read_profiles
from sinks.user_search import PREFIX_CHARS, UserSearch

router = APIRouter(tags=["search"])

#: what may start a username (photostream.domain.accounts), at least a search partition's worth of it
_QUERY = re.compile(rf"[a-z0-9_.]{{{PREFIX_CHARS},{USERNAME_MAX}}}")
MAX_RESULTS = 50


@router.get("/search/users")
async def search_users(request: Request, viewer: OptionalUser, resources: ResourcesDep, settings: SettingsDep,
                       response: Response,
                       q: Annotated[str, Query(max_length=USERNAME_MAX + 2, description="the start of a username")],
                       limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 20,
                       after: After = None) -> dict[str, Any]:
    """``{items: [{id, username, display_name, avatar_url, is_private}]}``: up to ``limit`` accounts whose
    username starts with ``q`` (any case, an ``@`` before it allowed), in name order."""
    query = q.strip().lower().removeprefix("@")
    if not _QUERY.fullmatch(query):
        raise ApiError(422, "invalid", f"q: {PREFIX_CHARS}–{USERNAME_MAX} characters of a-z, 0-9, '_' and '.' "
                                       "(the start of a username)", "q")
    await honour_after(after, resources, settings, response)
    search = per_app(request, UserSearch, lambda state: UserSearch(state.resources.session))
    found = await search.matches(query, limit, lambda ids: read_profiles(resources.session, resources.redis, ids))
    hidden = await blocked_with(resources, viewer, [user for user, _ in found])
    return {"items": [author_of(user, profile) | {"display_name": profile.get("display_name"),
                                                  "is_private": bool(profile.get("is_private"))}
                      for user, profile in found if user not in hidden]}
