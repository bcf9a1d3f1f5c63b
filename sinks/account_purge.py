"""The direct side of an account purge: reading what the account left, and deleting what only it owned.

What others see of the account (posts, follows, likes, comments) is retracted by events
(photostream.domain.account_purge); what follows here is the rest, deleted in place because no view is derived
from it by anyone else: the account's profile, settings, blocks and mutes, presence, follow requests to it, its
photos in S3 and their rows, the credentials. (Its own unread badge is the unread processor's to delete: see
streams/unread.py; the badges it is in leave through read marks.)

Deletes are timestamped with the deletion's time where the rows are written with event times, so an older
event applied late (a profile update, a comment) cannot bring a row back. Everything here is idempotent: a
second run finds nothing and deletes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from cassandra.cluster import Session

from photostream.domain.account_purge import Footprint
from photostream.domain.identicon import email_hash
from photostream.settings import Settings
from sinks import keys, s3
from sinks.avatars import AvatarDirectory
from sinks.cassandra import Gated, execute, ms_of, pages
from sinks.credentials import CredentialStore
from sinks.partition_cache import FOLLOWING, LIKES, RELATIONS, PartitionCache
from sinks.revocations import RevocationLedger
from sinks.upload_sweeper import image_id_of
from sinks.user_search import UserSearch

_MAX_IN_FLIGHT = 32
_PAGE = 1000


#: an account's own id lists, one partition each keyed by its user id (read whole, paged, as ``id``): what a
#: purge walks and an export (api/account_export.py) copies. One definition, so a list added for one is not
#: forgotten by the other.
ACCOUNT_LISTS = {
    "posts": "SELECT post_id AS id FROM posts_by_author WHERE author_id = ?",
    "following": "SELECT followee_id AS id FROM following WHERE follower_id = ?",
    "followers": "SELECT follower_id AS id FROM followers WHERE followee_id = ?",
    "likes": "SELECT post_id AS id FROM likes_by_user WHERE user_id = ?",
    # (requests it sent and that still wait: the index on follow_requests.follower_id, migration 0031)
    "requested": "SELECT followee_id AS id FROM follow_requests WHERE follower_id = ?",
    "requested_by": "SELECT follower_id AS id FROM follow_requests WHERE followee_id = ?",
}
#: the account's comments, through comments_by_post's index on user_id (migration 0019), with what an export shows
ACCOUNT_COMMENTS = "SELECT comment_id, post_id, text, created_at FROM comments_by_post WHERE user_id = ?"


class AccountPurge:
    def __init__(self, settings: Settings, session: Session, redis: Any, s3_client: Any,
                 avatar_purge: Callable[[str], Awaitable[object]] | None = None) -> None:
        self._settings, self._session, self._redis, self._s3 = settings, session, redis, s3_client
        #: the CDN's copies of the avatar (``sinks.cdn_purge.AvatarPurge``): they served the deleted person's
        #: face for the CDN's max-age, though an avatar change purged them
        self._avatar_purge = avatar_purge
        self._run = Gated(session, _MAX_IN_FLIGHT).run
        self.credentials = CredentialStore(session)
        self._avatars = AvatarDirectory(session)
        self._revocations = RevocationLedger(session, redis)
        self._search = UserSearch(session)
        p = session.prepare
        self._q = {name: p(cql) for name, cql in {
            **ACCOUNT_LISTS,
            # (the pairs' storage-attached index on sender_id: migration 0018)
            "unread_by": "SELECT user_id AS id, unsent_up_to, read_up_to FROM unread_pairs WHERE sender_id = ?",
            "relations": "SELECT other_id AS id FROM user_relations WHERE user_id = ?",
        }.items()}
        self._q_comments = p(ACCOUNT_COMMENTS)
        self._q_names = p("SELECT username, display_name FROM users WHERE user_id = ?")
        self._d_by_user = {table: p(f"DELETE FROM {table} USING TIMESTAMP ? WHERE {column} = ?") for table, column in (
            ("users", "user_id"), ("tag_settings", "user_id"),
            ("user_relations", "user_id"), ("muted_tags", "user_id"), ("presence", "user_id"),
            ("follow_requests", "followee_id"), ("hashtag_author_privacy", "author_id"))}
        self._d_plain = {table: p(f"DELETE FROM {table} WHERE {column} = ?") for table, column in (
            ("likes_by_user", "user_id"),
            ("refresh_families", "user_id"),
            ("uploads_by_user", "user_id"), ("image_files", "image_id"), ("image_uploads", "image_id"),
            ("photo_derivatives", "image_id"), ("post_images", "image_id"))}
        self._erase_post = p("UPDATE posts USING TIMESTAMP ? SET caption = null, image_ids = null, "
                             "location_name = null, deleted = true WHERE post_id = ?")
        self._d_relation = p("DELETE FROM user_relations USING TIMESTAMP ? WHERE user_id = ? AND other_id = ?")
        # (the storage-attached indexes on follow_state.follower_id and refresh_tokens.user_id: migration 0030)
        self._q_followed_once = p("SELECT followee_id, following FROM follow_state WHERE follower_id = ?")
        self._d_follow_pair = p("DELETE FROM follow_state WHERE followee_id = ? AND follower_id = ?")
        self._d_followee_state = p("DELETE FROM follow_state WHERE followee_id = ?")
        self._q_refresh_tokens = p("SELECT token_id FROM refresh_tokens WHERE user_id = ?")
        self._d_refresh_token = p("DELETE FROM refresh_tokens WHERE token_id = ?")

    async def _ids(self, query: str, user_id: str) -> list[str]:
        return [row.id async for page in pages(self._session, self._q[query], (user_id,), _PAGE) for row in page]

    # --- reads --------------------------------------------------------------------------------------------------
    async def footprint(self, user_id: str) -> Footprint:
        (posts, following, followers, likes, requested), comments = await asyncio.gather(
            asyncio.gather(*(self._ids(q, user_id) for q in ("posts", "following", "followers", "likes",
                                                             "requested"))),
            self._comments(user_id))
        # every pair, read or not: the read mark makes the recipient's loop delete it (streams.unread)
        unread_by = [(row.id, max(row.unsent_up_to or "", row.read_up_to or "")) async for page in
                     pages(self._session, self._q["unread_by"], (user_id,), _PAGE) for row in page]
        return Footprint(posts, following, followers, likes, unread_by, comments, requested)

    async def _comments(self, user_id: str) -> list[tuple[str, str, int]]:
        """The account's comments (post id, comment id, written at), through the index on
        ``comments_by_post.user_id``."""
        return [(row.post_id, row.comment_id, ms_of(row.created_at) if row.created_at else 0)
                async for page in pages(self._session, self._q_comments, (user_id,), _PAGE) for row in page]

    # --- deletes ------------------------------------------------------------------------------------------------
    async def posts_erased(self, post_ids: list[str], at_ms: int) -> None:
        """The posts' content goes too (``post-deleted`` only flags a row, which a replay must not revive)."""
        await asyncio.gather(*(self._run(self._erase_post, (at_ms * 1000, post)) for post in post_ids))

    async def own_rows_gone(self, user_id: str, at_ms: int) -> None:
        """Profile (and its rows in the user search), people-tag settings, blocks and mutes (both sides),
        presence, requests to the account, the hashtag extractor's record of its privacy, the likes index, the
        follow history, and the Redis copies of each (the account's own badge is the unread processor's: it
        reads account-deleted)."""
        micros = at_ms * 1000
        await self._unlisted(user_id, at_ms)  # (before the profile goes: its names say which rows)
        others = await self._ids("relations", user_id)
        await asyncio.gather(
            self._follow_history_gone(user_id),
            *(self._run(self._d_relation, (micros, other, user_id)) for other in others),
            *(self._run(self._d_by_user[t], (micros, user_id))
              for t in ("users", "tag_settings", "user_relations", "muted_tags", "presence", "follow_requests",
                        "hashtag_author_privacy")),
            self._run(self._d_plain["likes_by_user"], (user_id,)))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.delete(keys.user_profile(user_id), keys.feed(user_id), keys.feed_pull(user_id),
                        keys.presence(user_id), keys.presence_connections(user_id),
                        keys.presence_clock(user_id), keys.presence_online(user_id))
            pipe.srem(keys.feed_celebrities(), user_id)
            pipe.zrem(keys.presence_live(), user_id)
            await pipe.execute()
        await PartitionCache(self._redis, RELATIONS).invalidate([user_id, *others])
        await PartitionCache(self._redis, LIKES).invalidate([user_id])
        await PartitionCache(self._redis, FOLLOWING).invalidate([user_id])

    async def _unlisted(self, user_id: str, at_ms: int) -> None:
        """The account's rows in the user search (older names' rows: the search deletes them as it meets them,
        their profile gone)."""
        row = (await execute(self._session, self._q_names, (user_id,))).one()
        if row is not None:
            await self._search.unlist(user_id, row.username, row.display_name, at_ms)

    async def _follow_history_gone(self, user_id: str) -> None:
        """Who followed the account and whom it followed, as pair state (``follow_state``). Its own partition
        goes whole: its count serves nobody now, and the feeds processor writes no pair state for a closed
        account (:class:`sinks.graph.GraphWriter`). In others' partitions only the pairs it no longer follows
        are deleted here: a pair it still follows is the retraction's to end, which first takes it out of the
        other's count (deleted from under it, the count stayed one too high)."""
        await self._run(self._d_followee_state, (user_id,))
        async for page in pages(self._session, self._q_followed_once, (user_id,), _PAGE):
            await asyncio.gather(*(self._run(self._d_follow_pair, (row.followee_id, user_id))
                                   for row in page if not row.following))

    async def photos_gone(self, user_id: str) -> list[str]:
        """Every original under the account's prefix (completed or not), every rendered size of each, and
        their rows. Returns the image ids found."""
        originals = await asyncio.to_thread(self._list, f"photos/{user_id}/")
        images = sorted({i for i in (image_id_of(k) for k in originals) if i is not None})
        # the rows first, then the sizes listed: the photos processor, deriving one of these images right now,
        # checks the row after writing its sizes, so one of the two finds them (their sizes stayed for good)
        await asyncio.gather(*(self._run(self._d_plain[t], (image,)) for image in images
                               for t in ("image_files", "image_uploads", "photo_derivatives", "post_images")))
        renders = [k for image in images for k in await asyncio.to_thread(self._list, f"renders/{image}/")]
        await asyncio.to_thread(self._delete, renders + originals)
        await self._run(self._d_plain["uploads_by_user"], (user_id,))
        return images

    def _list(self, prefix: str) -> list[str]:
        return s3.keys_under(self._s3, self._settings, prefix)

    def _delete(self, object_keys: Iterable[str]) -> None:
        for key in object_keys:
            s3.delete(self._s3, self._settings, key)

    async def tokens_refused(self, user_id: str) -> None:
        """First: every access token of the user is refused, as `DELETE /users/me` refuses them. An upstream
        service's deletion (the SDK's ``account-deleted``) left the user's tokens working, and their writes after
        the purge were applied (a comment by nobody, a like counted for good)."""
        await self._revocations.revoke("account", user_id, None)  # for good, as api.auth.close_account

    async def credentials_gone(self, user_id: str) -> None:
        """Last: the avatar address, the sessions, the credentials, and then the username and e-mail address
        are free to be registered again (conditionally: never someone else's claim)."""
        identity = await self.credentials.identity(user_id)
        await self._run(self._d_plain["refresh_families"], (user_id,))
        async for page in pages(self._session, self._q_refresh_tokens, (user_id,), _PAGE):
            await asyncio.gather(*(self._run(self._d_refresh_token, (row.token_id,)) for row in page))
        if identity is None:
            return
        username, email = identity
        await self._avatars.forget(email_hash(email), user_id)
        if self._avatar_purge is not None:  # (after the forget: a CDN refetching at once gets the identicon)
            await self._avatar_purge(email_hash(email))
        await self.credentials.release("email", email, user_id)
        await self.credentials.release("username", username, user_id)
        await self.credentials.forget(user_id)  # last: a purge cut short finds the names to release again
