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
