"""Decisions that read what someone just changed wait until that change is applied.

Every write goes through Kafka and is applied by a processor a moment later, and some writes decide what to
publish from the state the processors keep: a follow is a request while the account is private and not yet
followed; an unfollow withdraws a request still pending; an approval needs a pending request; an untag needs
the tag; a profile edit keeps the tag settings it does not send. Read from a projection that has not reached
the people's own last writes, a quick succession went wrong (an unfollow then a follow of a private account
skipped its approval; a follow right after being blocked outlived the block; a withdrawal right after the
request was lost; an untag right after the tag was refused and the tag stayed).

So every published write is remembered for each user it is about (the actor and the other party, from the
event's id fields), per topic and partition, for :data:`REMEMBERED_S`; and a decision first waits — bounded by
``READ_YOUR_WRITES_TIMEOUT_S``, exactly as a read with ``?after=`` waits — until the last remembered writes of
the users it involves, on the topics whose state it reads, are applied. One Redis round trip when nothing is
pending. Past the bound the decision is refused with 503 and ``Retry-After`` (:data:`NOT_APPLIED_YET`): going
ahead on the state as it was let a follow sent after a block succeed while the processors lagged. With Redis
down it neither remembers nor waits (the write itself is accepted all the same).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from api.consistency import EVERY_VIEW, POST_PAGES, ConsistencyToken, Waits, wait_applied
from api.errors import ApiError
from producers.events import Event
from producers.ids import new_id
from producers.publisher import PublishResult
from sinks import keys
from sinks.cache_aside import REDIS_DOWN
from sinks.posts import read_posts_cached

#: how long a write is remembered: far above any healthy processing delay (a decision's wait is bounded anyway)
REMEMBERED_S = 60
#: the event fields that name the users a write is about
USER_FIELDS = ("user_id", "author_id", "follower_id", "followee_id", "actor_id", "target_id", "tagger_id",
               "tagged_id")

#: what each decision reads: the topics whose pending writes it waits for
FOLLOWING = ("follow-changed", "follow-requested", "block-changed", "profile-updated", "user-registered")
POSTING = ("post-created",)
DELETING = ("post-created", "post-deleted")
COMMENTING = ("comment-added", "comment-deleted")
#: what a block reads to end what stands between two people: follows and requests, and each one's likes and
#: comments (a like sent just before the block survived it, found by nobody: its index row was not written yet)
BLOCKING = (*FOLLOWING, "like-changed", "comment-added")
#: what a like or a comment reads: may the caller see the post (as a follow does), and is it still there (a
#: like the moment its author deleted the post was accepted, and stayed in the liker's export)
ENGAGING = (*FOLLOWING, "post-deleted")
PROFILE = ("profile-updated", "user-registered")
TAGGING = ("photo-tag-changed", "block-changed", "follow-changed", "profile-updated", "user-registered")


def users_of(event: Event) -> set[str]:
    return {str(event.value[f]) for f in USER_FIELDS if event.value.get(f)}


def subjects_of(event: Event) -> set[str]:
    """Who and what a write is remembered for: its users, and a new post by its own id (a like or comment by
    someone else, sent the moment its author shared the link, found no post and was a 404)."""
    if event.topic == "post-created":
        return users_of(event) | {str(event.value["post_id"])}
    return users_of(event)


async def publish(resources: Any, event: Event) -> PublishResult:
    """Publish ``event`` and remember it for every user it is about (and a new post, :func:`subjects_of`)."""
    result: PublishResult = await resources.publisher.publish_async(event)
    field = f"{result.topic}:{result.partition}"
    with contextlib.suppress(*REDIS_DOWN):  # the write is accepted: a Redis outage only loses the reminder
        async with resources.redis.pipeline(transaction=False) as pipe:
            for user in sorted(subjects_of(event)):
                pipe.hset(keys.pending_writes(user), field, result.offset)
                pipe.expire(keys.pending_writes(user), REMEMBERED_S)
            await pipe.execute()
    return result


def not_applied_yet(retry_after_s: float) -> ApiError:
    """The answer to a decision whose parties' last writes are not applied within the bound."""
    return ApiError(503, "not_applied_yet", "your last changes (or the other person's) are still being applied; "
                    "retry in a moment", headers={"Retry-After": str(max(1, round(retry_after_s)))})


async def remembered(resources: Any, users: Iterable[str], topics: Iterable[str] | None = None
                     ) -> set[ConsistencyToken] | None:
    """The writes remembered for ``users`` (on ``topics``; default: every topic), or None with Redis down."""
    wanted = None if topics is None else set(topics)
    try:
        async with resources.redis.pipeline(transaction=False) as pipe:
            for user in sorted(set(users)):
                pipe.hgetall(keys.pending_writes(user))
            found = await pipe.execute()
    except REDIS_DOWN:
        return None
    return {ConsistencyToken(topic, int(partition), int(offset))
            for fields in found for field, offset in fields.items()
            for topic, _, partition in [field.rpartition(":")] if wanted is None or topic in wanted}


async def all_applied(redis: Any, tokens: Iterable[ConsistencyToken], timeout_s: float,
                      waits: Waits = EVERY_VIEW) -> bool:
    """Whether every one of ``tokens`` is applied (to the views of ``waits``) within ``timeout_s`` (one deadline
    for all of them)."""
    deadline = time.monotonic() + timeout_s
    for token in sorted(tokens, key=lambda t: (t.topic, t.partition)):
        if not await wait_applied(redis, token, max(0.0, deadline - time.monotonic()), waits):
            return False
    return True


async def settle(resources: Any, settings: Any, users: Iterable[str], topics: Iterable[str],
                 unless_hidden: Callable[[], Awaitable[ApiError | None]] | None = None,
                 waits: Waits = EVERY_VIEW) -> bool:
    """Wait until the remembered writes of ``users`` on ``topics`` are applied: True once they are, False when
    none was pending or Redis is down (nothing to wait on: what was read before the call stands, and a caller
    re-reads only on True). Past the bound: :func:`not_applied_yet` (a 503), never a decision on the
    state from before those writes — unless ``unless_hidden`` answers a refusal on the state as it is (the 404
    of something the caller may not see): a 503 for a hidden post and a 404 for an absent one told them apart."""
    tokens = await remembered(resources, users, topics)
    if not tokens:  # nothing to wait on (with Redis down, the applied marks are out of reach too): decide on the
        return False  # state as it is
    if not await all_applied(resources.redis, tokens, settings.read_your_writes_timeout_s, waits):
        if unless_hidden is not None and (refusal := await unless_hidden()) is not None:
            raise refusal
        raise not_applied_yet(settings.read_your_writes_timeout_s)
    return True


async def writes_applied(resources: Any, user: str, timeout_s: float, waits: Waits = EVERY_VIEW) -> bool:
    """Whether every write remembered for ``user`` is applied (to the views of ``waits``) within ``timeout_s`` (a
    read's wait: never a 503). With Redis down there is nothing to wait on."""
    tokens = await remembered(resources, [user])
    return tokens is None or await all_applied(resources.redis, tokens, timeout_s, waits)


async def post_of_a_moment_ago(resources: Any, settings: Any, post_id: str) -> dict[str, Any] | None:
    """The post's row (None: no such post, or deleted); one published a moment ago is waited for (bounded, as a
    decision waits): its author shared the link at once, and the post, its comments and its likers were a 404
    to whoever opened it first. One Redis round trip more, on a miss only."""
    posts = await read_posts_cached(resources.session, resources.redis, [post_id])
    if posts[0] is None and await settle(resources, settings, [post_id], POSTING, waits=POST_PAGES):
        posts = await read_posts_cached(resources.session, resources.redis, [post_id])
    return posts[0]


#: how long a decision may hold its lock: past a settle's bound and a publish's, then it lapses
LOCK_TTL_S = 20
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


@contextlib.asynccontextmanager
async def one_at_a_time(resources: Any, settings: Any, key: str, strict: bool = False) -> AsyncIterator[None]:
    """Decisions about one thing taken one after another, across API processes: a Redis lock held from the
    decision's settle to its publish, so the next one settles on the write this one published. Why: a photo
    takes at most 20 tags, and 30 tags sent at once all read the same count before any was published (all 30
    were accepted). Bounded: past ``READ_YOUR_WRITES_TIMEOUT_S`` waiting (or with Redis down) the decision goes
    ahead unlocked (the settle inside it still refuses to decide on writes not applied). ``strict``: wait as
    long as a holder may hold the lock (``LOCK_TTL_S``), then answer 503 rather than go ahead: a profile edit,
    whose holder may spend the whole settle bound inside, let every queued edit run unlocked at once, and an
    account set private turned public."""
    token, held, delay, redis_answered = new_id(), False, 0.005, False
    deadline = time.monotonic() + (LOCK_TTL_S if strict else settings.read_your_writes_timeout_s)
    with contextlib.suppress(*REDIS_DOWN):
        while not (held := bool(await resources.redis.set(key, token, nx=True, px=LOCK_TTL_S * 1000))):
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(delay)  # polling a lock held by another request; bounded by the deadline
            delay = min(delay * 2, 0.05)
        redis_answered = True
    if strict and redis_answered and not held:
        raise ApiError(503, "busy", "another change of this is still being made; retry", headers={"Retry-After": "1"})
    try:
        yield
    finally:
        if held:
            with contextlib.suppress(*REDIS_DOWN):
                await resources.redis.eval(_RELEASE, 1, key, token)
