"""``GET /users/me/suggestions``: accounts the caller may want to follow ("Suggested for you").

Computed when asked, from the graph as it stands (photostream/domain/suggestions.py ranks): whom the caller's
followees follow (a sample of up to :data:`FOLLOWEES_SAMPLED` followees, :data:`READ_EACH` of whom each follows),
and who follows the caller unanswered. Never suggested: the caller, accounts they follow or asked to follow, and
anyone in a block with them either way; an account without a profile (deleted) is left out. Bounded work,
whatever the caller's graph: the lists of at most ``FOLLOWEES_SAMPLED`` followees, plus a handful of reads.
"""

from __future__ import annotations

import asyncio
import random
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.deps import CurrentUser, ResourcesDep, SettingsDep, per_app
from api.hydrate import author_of
from api.routes.reads import After, honour_after
from api.visibility import blocked_with
from photostream.domain.suggestions import rank
from sinks.accounts_requests import FollowRequests
from sinks.profiles import read_profiles

router = APIRouter(tags=["social"])

#: followees whose follows are read (a random sample of them when the caller follows more)
FOLLOWEES_SAMPLED = 50
#: accounts read of each other list: each sampled followee's follows, the caller's followers and sent requests
READ_EACH = 200
#: the caller's own follows read to sample from and to exclude (the candidates are then checked against all of
#: them: ``followed_among``)
READ_FOLLOWING = 1000
#: mutuals shown per suggestion ("followed by alice, bob + 3 more")
MUTUALS_SHOWN = 3


@router.get("/users/me/suggestions")
async def suggestions(request: Request, user: CurrentUser, resources: ResourcesDep, settings: SettingsDep,
                      response: Response, limit: Annotated[int, Query(ge=1, le=50)] = 20,
                      after: After = None) -> dict[str, Any]:
    """``{items: [{id, username, display_name, avatar_url, mutual_count, followed_by: [{id, username}],
    follows_you}]}``, best first: how many of the caller's followees follow the account (``followed_by`` names
    up to three), and whether it follows the caller."""
    await honour_after(after, resources, settings, response)
    lists = resources.follow_lists
    requests = per_app(request, FollowRequests, lambda state: FollowRequests(state.resources.session))
    following, followers, requested = await asyncio.gather(
        lists.page("following", user, READ_FOLLOWING, None), lists.page("followers", user, READ_EACH, None),
        requests.sent_by(user, READ_EACH))
    sampled = following if len(following) <= FOLLOWEES_SAMPLED else random.sample(following, FOLLOWEES_SAMPLED)
    theirs = await asyncio.gather(*(lists.page("following", f, READ_EACH, None) for f in sampled))
    ranked = rank(user, dict(zip(sampled, theirs, strict=True)), followers, set(following) | requested,
                  limit * 2)  # (twice: some may be followed beyond those read, blocked, or gone)
    candidates = [s.user_id for s in ranked]
    followed, blocked = await asyncio.gather(resources.graph.followed_among(user, candidates),
                                             blocked_with(resources, user, candidates))
    kept = [s for s in ranked if s.user_id not in followed and s.user_id not in blocked]
    shown_mutuals = {m for s in kept[:limit] for m in s.mutuals[:MUTUALS_SHOWN]}
    profiles = await read_profiles(resources.session, resources.redis,
                                   [s.user_id for s in kept] + sorted(shown_mutuals))
    items = [author_of(s.user_id, profiles[s.user_id]) | {
        "display_name": profiles[s.user_id].get("display_name"), "mutual_count": len(s.mutuals),
        "followed_by": [{"id": m, "username": profiles[m].get("username")} for m in s.mutuals if m in profiles
                        ][:MUTUALS_SHOWN],
        "follows_you": s.follows_you} for s in kept if s.user_id in profiles]
    return {"items": items[:limit]}
