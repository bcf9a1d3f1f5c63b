"""The extraction adapter's pure part: post-created → add events, post-deleted → retractions.

Event ids are derived from post id + tag + action, so running the adapter twice over the same post (a
replay, a crash before commit) never creates a second event identity: downstream dedupes by it. An author's
account turning private hides their posts from every tag (``cause="audience"`` retracts), turning public shows
them again (``cause="audience"`` adds): those ids also name the profile change, since an account may switch
back and forth.
Comments are not mined for tags, even the author's own: a caption is the post's statement, comments are
conversation (and would let anyone attach a post to a tag by commenting).
"""

from __future__ import annotations

from typing import Any, Literal

from photostream.domain.tags import extract_hashtags
from producers.ids import deterministic_id


def hashtag_event(post: dict[str, Any], tag: str, tags: list[str], action: Literal["add", "retract"],
                  occurred_at: int, audience_change: str | None = None, as_of: int = 0) -> dict[str, Any]:
    """One post-hashtag record (fields of the schema); ``audience_change``: the id of the profile change that
    hides or shows the post (None for the post's own creation or deletion)."""
    identity = (post["post_id"], tag, action) if audience_change is None else \
        (post["post_id"], tag, action, "audience", audience_change)
    return {
        "event_id": deterministic_id("post-hashtag", *identity),
        "occurred_at": occurred_at,
        "post_id": post["post_id"],
        "author_id": post["author_id"],
        "hashtag": tag,
        "action": action,
        "post_created_at": post["created_at"],
        "post_tags": tags,
        "cause": "post" if audience_change is None else "audience",
        "as_of": as_of,
    }


def on_post_created(created: dict[str, Any], author_private: bool = False
                    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The post's remembered tag state and its add events.

    Only public posts enter hashtag pages, counts and trending: a followers-only or private post is no tag's
    member at all (so no aggregate can leak that it exists). A public post of a private account is remembered
    with its tags but announced to no tag until the account turns public (:func:`on_audience_changed`).
    """
    is_public = created.get("visibility", "public") == "public"
    tags = extract_hashtags(created["caption"]) if is_public else []
    post = {"post_id": created["post_id"], "author_id": created["author_id"], "tags": tags,
            "created_at": created["occurred_at"]}
    if author_private:
        return post, []
    return post, [hashtag_event(post, tag, tags, "add", created["occurred_at"]) for tag in tags]


def on_audience_changed(post: dict[str, Any], profile_change: dict[str, Any]) -> list[dict[str, Any]]:
    """The author turned private (every tag of the post is hidden) or public again (shown again)."""
    tags = list(post["tags"])
    action: Literal["add", "retract"] = "retract" if profile_change["is_private"] else "add"
    at = int(profile_change["occurred_at"])
    return [hashtag_event(post, tag, tags, action, at, str(profile_change["event_id"]), at) for tag in tags]


def on_post_deleted(post: dict[str, Any], deleted: dict[str, Any]) -> list[dict[str, Any]]:
    """Retractions for every tag the post had."""
    tags = list(post["tags"])
    return [hashtag_event(post, tag, tags, "retract", deleted["occurred_at"]) for tag in tags]
