"""The one owner of every Redis key: nobody else formats a key by hand.

Keys that belong together for a multi-key operation share a ``{hash tag}`` so they live on one Redis
Cluster slot.
"""

from __future__ import annotations

#: the namespace's prefix (``NS:``; empty without a namespace): see :func:`use_namespace`
_prefix = ""


def use_namespace(namespace: str) -> None:
    """Put every key of this process under ``namespace`` (``photostream.namespace``); called once at start by
    the CLI, the API and the worker with ``settings.namespace``."""
    global _prefix
    _prefix = f"{namespace}:" if namespace else ""

#: Profiles cached in Redis expire as a safety net; the stream refreshes them on every change.
PROFILE_TTL_S = 7 * 24 * 3600


def user_profile(user_id: str) -> str:
    return f"{_prefix}user:{{{user_id}}}:profile"


#: Copies of small per-user partitions (:mod:`sinks.partition_cache`) live while their user reads; their
#: versions outlive any fill's window (a Cassandra read), so a fill can always tell a write happened.
PARTITION_COPY_TTL_S = 600
PARTITION_VERSION_TTL_S = 24 * 3600


def partition_copy(name: str, user_id: str) -> str:
    """A hash copying the user's ``name`` partition (member → value, plus its state field)."""
    return f"{_prefix}{name}:{{{user_id}}}:copy"


def partition_version(name: str, user_id: str) -> str:
    """Bumped by every write to the user's ``name`` partition (same slot as the copy)."""
    return f"{_prefix}{name}:{{{user_id}}}:version"


def applied_offsets(consumer: str, topic: str) -> str:
    """Hash partition -> highest offset the ``consumer`` has applied (read-your-writes waits on it)."""
    return f"{_prefix}applied:{{{consumer}}}:{topic}"


def derived_offsets(consumer: str, topic: str, partition: int) -> str:
    """Sorted set of the batches of ``topic``/``partition`` whose records made ``consumer`` publish events, scored
    by the batch's highest offset: where those events landed (read-your-writes waits for them too)."""
    return f"{_prefix}derived:{{{consumer}}}:{topic}:{partition}"


def pending_writes(user_id: str) -> str:
    """Hash ``topic:partition`` -> the offset of the latest write published about this user there (short TTL:
    :mod:`api.pending_writes`)."""
    return f"{_prefix}writes:{{{user_id}}}"


def photo_tags_lock(post_id: str, image_id: str) -> str:
    """String: held while one tag decision about this photo runs (:func:`api.pending_writes.one_at_a_time`)."""
    return f"{_prefix}lock:tags:{{{post_id}}}:{image_id}"


def profile_edit_lock(user_id: str) -> str:
    """Held by one ``PATCH /users/me`` of the user at a time, from its read of the profile to its publish."""
    return f"{_prefix}lock:profile:{{{user_id}}}"


def rate_bucket(user_id: str, action: str) -> str:
    return f"{_prefix}ratelimit:{{{user_id}}}:{action}"


def revoked_access(jti: str) -> str:
    """Present while a logged-out access token (by its id) would still be valid; expires with the token."""
    return f"{_prefix}auth:revoked:{{{jti}}}"


def closed_account(user_id: str) -> str:
    """Present, for good, once an account's deletion was accepted: every token of it is refused, and every
    processor drops what it would add for the account (its tombstone)."""
    return f"{_prefix}auth:closed:{{{user_id}}}"


#: how long a person stays noted as in a block lately (:mod:`sinks.recent_blocks`): far longer than a block's
#: write and its reading of what it ends take between them (seconds)
RECENT_BLOCK_TTL_S = 600


def recent_block(user_id: str) -> str:
    """Present for a while after the safety processor wrote a block the user is in (either side)."""
    return f"{_prefix}safety:recent-block:{{{user_id}}}"


def made_private(user_id: str) -> str:
    """Present for a while after the notifications processor saw the account made private: its other loops
    withhold strangers' mentions on the account's posts before the profiles view has the switch."""
    return f"{_prefix}notif:private:{{{user_id}}}"


#: how long the notifications processor remembers a new post's author (:mod:`sinks.new_posts`): far longer than
#: the posts projector lags behind it (seconds; minutes after a worker restart)
NEW_POST_TTL_S = 3600


def new_post(post_id: str) -> str:
    """A new post's author and visibility, for a while after the notifications processor saw it created."""
    return f"{_prefix}notif:new-post:{{{post_id}}}"


def parted(user_id: str) -> str:
    """The blocks and mutes the notifications processor read lately that part the user from someone (a hash:
    ``block:<other>`` / ``mute:<other>``), kept until the safety processor's relations surely say them too."""
    return f"{_prefix}notif:parted:{{{user_id}}}"


def parted_lately() -> str:
    """Who has a :func:`parted` note, by when it expires (a sorted set: one read tells a batch whom to ask)."""
    return f"{_prefix}notif:parted-lately"


def awaiting_post(post_id: str) -> str:
    """The notifications about a post that no loop had seen created when they were applied: a list, taken by
    the loop that sees it created."""
    return f"{_prefix}notif:awaiting-post:{{{post_id}}}"


def sessions_ended(user_id: str) -> str:
    """While an access token issued before it could still be valid: when the user's sessions were ended
    (epoch ms; a password change, a stolen refresh token): every token of the user issued earlier is refused."""
    return f"{_prefix}auth:ended:{{{user_id}}}"


def revocations_loaded() -> str:
    """Present while Redis holds every durable access revocation (set by the reload, :mod:`sinks.revocations`,
    after copying them all; a lost Redis loses it, and the check then asks Cassandra until the next reload)."""
    return f"{_prefix}auth:revocations-loaded"


# Hashtag views are projections of durable state (``hashtag_state``), rewritten absolutely by the stream and
# rebuilt by `photostream rebuild hashtags`: they carry no TTL, since an expired view has no read fallback.
#: Trending author sets expire at an absolute time once no reader can look at them (see
#: ``photostream.domain.hashtag_views.bucket_expiry``).
#: Engagement counts are a read-through cache of ``post_engagement``: they may expire (reads fall back).
ENGAGEMENT_CACHE_TTL_S = 24 * 3600


def hashtag(tag: str) -> str:
    """Hash: post_count (absolute)."""
    return f"{_prefix}hashtag:{{{tag}}}"


def hashtag_related(tag: str) -> str:
    """Sorted set other tag -> co-occurrence count."""
    return f"{_prefix}hashtag:{{{tag}}}:related"


def hashtag_top(tag: str) -> str:
    """Sorted set post_id -> popularity score; the top N posts."""
    return f"{_prefix}hashtag:{{{tag}}}:top"


def trend_authors(tag: str, bucket_ms: int, bucket_start: int) -> str:
    """Set of distinct authors who used ``tag`` in one bucket (same slot for all of a tag's buckets)."""
    return f"{_prefix}trend:{{{tag}}}:{bucket_ms}:{bucket_start}"


def trend_active() -> str:
    """Sorted set tag -> creation ms of its newest present post (within a day)."""
    return _prefix + "trend:active"


def trend_recent_authors(tag: str) -> str:
    """Set of the distinct authors of ``tag``'s posts of the last day (expiring a day after its last write)."""
    return f"{_prefix}trend:{{{tag}}}:recent"


def trend_eligible() -> str:
    """Sorted set tag -> creation ms of its newest present post, for tags used by at least the trending minimum of
    distinct authors within a day: the candidates for trending (one account's one-off tags never enter it)."""
    return _prefix + "trend:eligible"


def tag_key_patterns() -> tuple[str, ...]:
    """SCAN patterns of every per-tag key (:func:`hashtag`, :func:`hashtag_top`, :func:`trend_authors`…)."""
    return f"{_prefix}hashtag:{{*", f"{_prefix}trend:{{*"


def tag_of_key(key: str) -> str | None:
    """The tag a per-tag key belongs to (its hash tag: a tag never holds braces); None for a key not of that
    shape (a stray key someone wrote by hand)."""
    start = key.find("{", len(_prefix)) + 1
    end = key.find("}", start) if start else -1
    return key[start:end] if end > start else None


def trending_cache(window: str) -> str:
    return f"{_prefix}trending:{window}"


def post_engagement(post_id: str) -> str:
    """Hash: like_count, comment_count (absolute; a cache of ``post_engagement``)."""
    return f"{_prefix}post:{{{post_id}}}:engagement"


#: Read-through cache of post summaries (short TTL: the Cassandra row is the truth).
POST_CACHE_TTL_S = 600
POST_TOMBSTONE = "deleted"


def post_cache(post_id: str) -> str:
    """JSON of a post as the API shows it, or :data:`POST_TOMBSTONE`."""
    return f"{_prefix}post:{{{post_id}}}"


def feed(user_id: str) -> str:
    """Newest-first list of 16-byte ids (sinks.feed_lists) of the user's home feed; exists = built (maybe empty)."""
    return f"{_prefix}feed:{{{user_id}}}"


def feed_owner(feed_key: str) -> str:
    """The user id of a :func:`feed` key (rebuilds find feeds by SCAN)."""
    return feed_key[feed_key.index("{") + 1:-1]


def feed_pull(author_id: str) -> str:
    """Newest-first list of 16-byte ids: newest posts of a pull-tier (celebrity) author, merged into feeds at read."""
    return f"{_prefix}feed:pull:{{{author_id}}}"


def feed_pull_building(author_id: str) -> str:
    """Where a pull set is assembled before it is renamed into place (same hash slot as :func:`feed_pull`)."""
    return f"{_prefix}feed:pull:{{{author_id}}}:building"


def photo_tagged_posts() -> str:
    """Set of posts that have (or had) people tags, plus a built marker (``sinks.tagged_posts``)."""
    return _prefix + "photo-tags:posts"


def feed_celebrities() -> str:
    """Set of authors with a pull set: the candidates a feed read merges (plus a built marker, see
    ``sinks.feeds.CELEBRITIES_BUILT``)."""
    return _prefix + "feed:celebrities"


# Newly-unread badge and presence (sinks/unread.py, sinks/presence.py, api/realtime*.py): one user's keys share
# the ``{user_id}`` hash tag, so the status read is one round trip on one slot. The unread sets are projections
# of ``unread_pairs`` (no TTL: `photostream rebuild unread` restores lost ones).


def unread_senders(user_id: str) -> str:
    """Set of sender ids whose messages ``user_id`` has not read."""
    return f"{_prefix}unread:{{{user_id}}}"


#: how long a deleted account's badge and notification versions outlive it (raised by the purge, so a copy
#: under way is refused; a copy's window is seconds)
PURGED_VERSION_TTL_S = 24 * 3600


def unread_whole(user_id: str) -> str:
    """Present when the user's unread set was copied whole from Cassandra (by the API or the rebuild): a set
    without it (Redis lost it, or nobody read the badge yet) may hold only what was projected since the loss,
    and is copied again in the background (:mod:`api.status_copies`)."""
    return f"{_prefix}unread:{{{user_id}}}:whole"


def unread_version(user_id: str) -> str:
    """Raised by every projection of the user's set: a copy from Cassandra read before is refused."""
    return f"{_prefix}unread:{{{user_id}}}:version"


def unread_owner(unread_key: str) -> str:
    """The user id of an :func:`unread_senders` key (rebuilds find sets by SCAN)."""
    return unread_key[unread_key.index("{") + 1:-1]


def presence(user_id: str) -> str:
    """Hash: status (online/offline), changed_at and last_seen (ms) as the presence processor applied them."""
    return f"{_prefix}presence:{{{user_id}}}"


def presence_connections(user_id: str) -> str:
    """Sorted set connection id -> expiry ms: the user's live WebSocket connections on every API process."""
    return f"{_prefix}presence:{{{user_id}}}:conns"


def presence_clock(user_id: str) -> str:
    """The time (ms) of the user's last presence transition: transitions get strictly increasing times."""
    return f"{_prefix}presence:{{{user_id}}}:clock"


def presence_online(user_id: str) -> str:
    """Present while the user's last published transition was ``online``: a reaper that finds their registry
    already expired (no process reaped it within its lifetime) still owes them their ``offline``."""
    return f"{_prefix}presence:{{{user_id}}}:online"


def presence_live() -> str:
    """Sorted set user -> latest connection expiry ms: who may be left online by a crashed API process."""
    return _prefix + "presence:live"


def status_channel(namespace: str, user_id: str) -> str:
    """Pub/sub channel: a ping after the user's badge or presence was written (API processes re-read and push).
    Channels are not per database, so the deployment's app id is in the name: a test run, a benchmark and the
    demo sharing one Redis never hear each other's pings."""
    return f"{_prefix}status:{namespace}:{{{user_id}}}"


def status_channel_owner(channel: str) -> str:
    """The user id of a :func:`status_channel`."""
    return channel[channel.rindex("{") + 1:-1]


# Notifications (sinks/notification_lists.py): projections of the ``notifications`` and ``notification_reads``
# tables (no TTL: `photostream rebuild notifications` restores lost ones). One user's keys share the
# ``{user_id}`` hash tag, so a page, the unread count and the processor's script each touch one slot.


def notification_ids(user_id: str) -> str:
    """Sorted set notification id -> bucket start ms: the newest ``NOTIFICATIONS_CAP`` (ids order as listed)."""
    return f"{_prefix}notif:{{{user_id}}}:ids"


def notification_updated(user_id: str) -> str:
    """Sorted set notification id -> updated_at ms (the unread count is a ZCOUNT above the read mark)."""
    return f"{_prefix}notif:{{{user_id}}}:updated"


def notification_items(user_id: str) -> str:
    """Hash notification id -> JSON {kind, target_id, actors, actor_count, updated_at}."""
    return f"{_prefix}notif:{{{user_id}}}:items"


def notification_read(user_id: str) -> str:
    """The read mark (ms): notifications updated at or before it are read."""
    return f"{_prefix}notif:{{{user_id}}}:read"


def notification_floor(user_id: str) -> str:
    """The highest id ever trimmed off the list: ids at or below it live only in Cassandra."""
    return f"{_prefix}notif:{{{user_id}}}:floor"


def notification_whole(user_id: str) -> str:
    """Present when the user's list was copied whole from Cassandra (by the API or the rebuild), so the
    projection's items since are all the rest: a list without it (Redis lost the user's keys, or nobody read
    them yet) is read from Cassandra. :mod:`sinks.notification_lists` explains why."""
    return f"{_prefix}notif:{{{user_id}}}:whole"


def notification_version(user_id: str) -> str:
    """Raised by every projection of the user's list: a copy from Cassandra read before is refused."""
    return f"{_prefix}notif:{{{user_id}}}:version"


def notification_owner(ids_key: str) -> str:
    """The user id of a :func:`notification_ids` key (rebuilds find lists by SCAN)."""
    return ids_key[ids_key.index("{") + 1:ids_key.rindex("}")]


def idempotency(user_id: str, key: str) -> str:
    """JSON: a write sent with ``Idempotency-Key: key`` — its request's fingerprint, the ids it was given and,
    once accepted, its answer (:mod:`api.idempotency`; 24 h)."""
    return f"{_prefix}idempotency:{{{user_id}}}:{key}"
