"""New posts' authors, as the notifications processor saw them created, and the likes and comments that
waited for one: for the notifications that reach the processor before the posts view has their post.

Why: a like or comment from an upstream service that does not name the post's author (``post_author_id`` is
optional: v1 events have none) is addressed to the author the posts view gives. The notifications processor
consumes ``post-created`` too, but that topic is keyed by author and likes by post, so the creation and its
first likes are applied by different loops: what one learnt the others did not know. While the posts
projector was behind (a worker restart, a backlog), those likes notified nobody, for good. Now:

- each ``post-created`` of the last :data:`sinks.keys.NEW_POST_TTL_S` a loop applies leaves its author and
  visibility here (:func:`note`) for as long, and reads the notifications parked for the post (applied with its
  own batch, and only then removed: :func:`release`); a ``post-deleted`` takes the note and what was parked
  away;
- a loop that finds neither the post nor a note parks the post's notifications (:func:`park`), then looks for
  a note again. Each side writes, then reads, so at least one of them sees the other (both may: applying a
  notification twice changes nothing). Parked ones expire with the note's lifetime: a like of a post that is
  never created notifies nobody, as before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from photostream.domain.notifications import Draft, Recipient
from producers.ids import now_ms
from sinks import keys
from sinks.redis_bulk import get_many

Post = dict[str, Any]


def recent(created_at_ms: int) -> bool:
    """Whether a post created at ``created_at_ms`` is worth a note: created within the note's lifetime. A replay
    of ``post-created`` from the start noted every post ever made (Redis memory for an hour, for posts the view
    has had for long), and likes wait for a post no longer than that either."""
    return created_at_ms >= now_ms() - keys.NEW_POST_TTL_S * 1000


@dataclass(frozen=True)
class Taken:
    """The drafts parked for posts a loop saw created, read but still parked: :func:`release` removes exactly
    these once the loop's batch applied them. Read and removed at once, they were lost to a worker killed in
    between: the loop that parked them had committed its records, and the creation delivered again found
    nothing left (the SIGKILL test of ``tests/integration/test_faults.py`` lost "liked your photo" that way)."""

    drafts: list[Draft] = field(default_factory=list)
    #: post id → how many items at the head of its parked list were read (later ones are appended behind them)
    counts: dict[str, int] = field(default_factory=dict)


async def note(redis: Any, posts: Mapping[str, Post], gone: Iterable[str] = ()) -> Taken:
    """Remember ``posts`` (post id → ``{post_id, author_id, visibility}``) and forget the ``gone`` ones (with
    what was parked for them), in one round trip; returns the drafts parked for ``posts``, read (not removed)."""
    gone = list(dict.fromkeys(gone))
    if not posts and not gone:
        return Taken()
    async with redis.pipeline(transaction=False) as pipe:
        for post_id, post in posts.items():
            pipe.set(keys.new_post(post_id), f"{post['author_id']} {post['visibility']}", ex=keys.NEW_POST_TTL_S)
        for post_id in gone:
            pipe.delete(keys.new_post(post_id), keys.awaiting_post(post_id))
        for post_id in posts:  # (after the notes: see the module docstring)
            pipe.lrange(keys.awaiting_post(post_id), 0, -1)
        answers = await pipe.execute()
    parked = dict(zip(posts, answers[len(posts) + len(gone):], strict=True))
    return Taken([_draft(item) for items in parked.values() for item in items],
                 {post_id: len(items) for post_id, items in parked.items() if items})


async def release(redis: Any, taken: Taken) -> None:
    """Remove what :func:`note` read, once it is applied (in one round trip): the head of each post's parked list,
    which drafts parked since stay behind (parking appends). Applied twice after a crash before this, a draft
    changes nothing the second time."""
    if not taken.counts:
        return
    async with redis.pipeline(transaction=False) as pipe:
        for post_id, count in taken.counts.items():
            pipe.ltrim(keys.awaiting_post(post_id), count, -1)
        await pipe.execute()


async def noted(redis: Any, post_ids: Iterable[str]) -> dict[str, Post]:
    """The posts among ``post_ids`` seen created lately (one ``MGET``), as the processor's posts are shaped."""
    ordered = sorted(set(post_ids))
    found: dict[str, Post] = {}
    for post_id, value in zip(ordered, await get_many(redis, [keys.new_post(p) for p in ordered]), strict=True):
        if value is not None:
            author_id, _, visibility = value.partition(" ")
            found[post_id] = {"post_id": post_id, "author_id": author_id, "visibility": visibility}
    return found


async def park(redis: Any, drafts: list[Draft]) -> dict[str, Post]:
    """Park ``drafts`` (each about a post nobody knows yet) for the loop that sees their post created; returns
    the notes found after parking (their posts' drafts may be resolved now)."""
    if not drafts:
        return {}
    async with redis.pipeline(transaction=False) as pipe:
        for draft in drafts:
            pipe.rpush(keys.awaiting_post(draft.target_id), _encoded(draft))
        for post_id in {draft.target_id for draft in drafts}:
            pipe.expire(keys.awaiting_post(post_id), keys.NEW_POST_TTL_S)
        await pipe.execute()
    return await noted(redis, (draft.target_id for draft in drafts))


def _encoded(draft: Draft) -> str:
    return json.dumps([draft.recipient.by, draft.recipient.value, draft.kind, draft.target_id, draft.actor,
                       draft.present, draft.at, draft.from_at, draft.comment_id])


def _draft(encoded: str) -> Draft:
    """(A draft parked before drafts named their comment has eight fields: it withdraws its actor whole.)"""
    by, value, kind, target_id, actor, present, at, from_at, *comment = json.loads(encoded)
    return Draft(Recipient(by, value), kind, target_id, actor, present, at, from_at, *comment)
