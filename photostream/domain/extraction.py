"""The extraction adapter's pure part: post-created → add events, post-deleted → retractions.

Event ids are derived from post id + tag + action, so running the adapter twice over the same post (a
replay, a crash before commit) never creates a second event identity: downstream dedupes by it.
Comments are not mined for tags, even the author's own: a caption is the post's statement, comments are
conversation (and would let anyone attach a post to a tag by commenting).
"""

from __future__ import annotations

from typing import Any, Literal

from photostream.domain.tags import extract_hashtags
from producers.ids import deterministic_id


def hashtag_event(post: dict[str, Any], tag: str, tags: list[str], action: Literal["add", "retract"],
                  occurred_at: int) -> dict[str, Any]:
    """One post-hashtag record (fields of the schema)."""
    return {
        "event_id": deterministic_id("post-hashtag", post["post_id"], tag, action),
        "occurred_at": occurred_at,
        "post_id": post["post_id"],
        "author_id": post["author_id"],
        "hashtag": tag,
        "action": action,
        "post_created_at": post["created_at"],
        "post_tags": tags,
    }


def on_post_created(created: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The post's remembered tag state and its add events.

    Only public posts enter hashtag pages, counts and trending: a followers-only or private post is no tag's
    member at all (so no aggregate can leak that it exists).
    """
    is_public = created.get("visibility", "public") == "public"
    tags = extract_hashtags(created["caption"]) if is_public else []
    post = {"post_id": created["post_id"], "author_id": created["author_id"], "tags": tags,
            "created_at": created["occurred_at"]}
    return post, [hashtag_event(post, tag, tags, "add", created["occurred_at"]) for tag in tags]


def on_post_deleted(post: dict[str, Any], deleted: dict[str, Any]) -> list[dict[str, Any]]:
    """Retractions for every tag the post had."""
    tags = list(post["tags"])
    return [hashtag_event(post, tag, tags, "retract", deleted["occurred_at"]) for tag in tags]
