"""The one owner of every Redis key: nobody else formats a key by hand.

Keys that belong together for a multi-key operation share a ``{hash tag}`` so they live on one Redis
Cluster slot.
"""

from __future__ import annotations

#: Profiles cached in Redis expire as a safety net; the stream refreshes them on every change.
PROFILE_TTL_S = 7 * 24 * 3600


def user_profile(user_id: str) -> str:
    return f"user:{{{user_id}}}:profile"


def applied_offsets(consumer: str, topic: str) -> str:
    """Hash partition -> highest offset the ``consumer`` has applied (read-your-writes waits on it)."""
    return f"applied:{{{consumer}}}:{topic}"


def rate_bucket(user_id: str, action: str) -> str:
    return f"ratelimit:{{{user_id}}}:{action}"


#: Hot hashtag data expires if the stream stops refreshing it (safety net; the stream rewrites on change).
HASHTAG_TTL_S = 24 * 3600
#: Newest posts kept per tag in Redis (older pages come from Cassandra).
HASHTAG_RECENT_MAX = 500
#: Trending author sets live a little longer than the longest baseline they feed (7 days + 1 window).
TREND_TTL_S = 8 * 24 * 3600


def hashtag(tag: str) -> str:
    """Hash: post_count (absolute)."""
    return f"hashtag:{{{tag}}}"


def hashtag_recent(tag: str) -> str:
    """Sorted set post_id -> created_at ms, newest posts."""
    return f"hashtag:{{{tag}}}:recent"


def hashtag_related(tag: str) -> str:
    """Sorted set other tag -> co-occurrence count."""
    return f"hashtag:{{{tag}}}:related"


def hashtag_top(tag: str) -> str:
    """Sorted set post_id -> popularity score; the top N posts."""
    return f"hashtag:{{{tag}}}:top"


def trend_authors(tag: str, bucket_ms: int, bucket_start: int) -> str:
    """Set of distinct authors who used ``tag`` in one bucket (same slot for all of a tag's buckets)."""
    return f"trend:{{{tag}}}:{bucket_ms}:{bucket_start}"


def trend_active() -> str:
    """Sorted set tag -> last activity ms: the candidates for trending."""
    return "trend:active"


def trending_cache(window: str) -> str:
    return f"trending:{window}"


def post_engagement(post_id: str) -> str:
    """Hash: like_count, comment_count, created_at, tags (JSON)."""
    return f"post:{{{post_id}}}:engagement"


#: Read-through cache of post summaries (short TTL: the Cassandra row is the truth).
POST_CACHE_TTL_S = 600
POST_TOMBSTONE = "deleted"


def post_cache(post_id: str) -> str:
    """JSON of a post as the API shows it, or :data:`POST_TOMBSTONE`."""
    return f"post:{{{post_id}}}"
