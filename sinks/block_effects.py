"""What a block ends between two people, read for the safety processor: each side's likes of and comments on
the other's posts, and their tags in them. (Unread messages need no reading: the block marks both sides read
up to its time, :func:`photostream.domain.safety.reads_of_block`.)

A user's likes are found through ``likes_by_user`` (written by the popularity processor, migration 0014), read
page by page, and their posts' authors in one multi-partition read per 100 posts; only the likes of posts the
other side wrote are kept. Comments are found the same way, through the index on ``comments_by_post.user_id``
(migration 0019). Read once per block, which is rare: a heavy liker costs a few pages.
"""

from __future__ import annotations

import asyncio

from cassandra.cluster import Session

from photostream.domain.safety import CommentAcross, TagAcross
from sinks.cassandra import ms_of, pages
from sinks.posts import read_post_rows

_PAGE = 1000


class BlockFootprint:
    def __init__(self, session: Session) -> None:
        self._session = session
        self._liked = session.prepare("SELECT post_id FROM likes_by_user WHERE user_id = ?")
        self._commented = session.prepare(
            "SELECT post_id, comment_id, created_at FROM comments_by_post WHERE user_id = ?")
        self._tagged_in = {table: session.prepare(f"SELECT post_id, image_ids FROM {table} WHERE tagged_id = ?")
                           for table in ("tagged_posts", "pending_tagged_posts")}

    async def likes_between(self, a: str, b: str) -> list[tuple[str, str]]:
        """(liker, post id) of ``a``'s likes of ``b``'s posts and ``b``'s likes of ``a``'s."""
        found = await asyncio.gather(self._likes_of_posts_by(a, b), self._likes_of_posts_by(b, a))
        return [pair for pairs in found for pair in pairs]

    async def _likes_of_posts_by(self, liker: str, author: str) -> list[tuple[str, str]]:
        liked = [row.post_id async for batch in pages(self._session, self._liked, (liker,), _PAGE) for row in batch]
        rows = await read_post_rows(self._session, liked)
        return [(liker, post_id) for post_id in liked
                if (row := rows.get(post_id)) is not None and row.author_id == author]

    async def comments_between(self, a: str, b: str) -> list[CommentAcross]:
        """``a``'s comments on ``b``'s posts and ``b``'s on ``a``'s."""
        found = await asyncio.gather(self._comments_on_posts_by(a, b), self._comments_on_posts_by(b, a))
        return [comment for comments in found for comment in comments]

    async def _comments_on_posts_by(self, commenter: str, author: str) -> list[CommentAcross]:
        written = [CommentAcross(commenter, row.post_id, row.comment_id, ms_of(row.created_at))
                   async for batch in pages(self._session, self._commented, (commenter,), _PAGE) for row in batch]
        rows = await read_post_rows(self._session, list(dict.fromkeys(c.post_id for c in written)))
        return [c for c in written if (row := rows.get(c.post_id)) is not None and row.author_id == author]

    async def tags_between(self, a: str, b: str) -> list[TagAcross]:
        """``a``'s tags on ``b``'s photos and ``b``'s on ``a``'s, approved or waiting for approval."""
        found = await asyncio.gather(self._tags_on_posts_by(a, b), self._tags_on_posts_by(b, a))
        return [tag for tags in found for tag in tags]

    async def _tags_on_posts_by(self, tagged: str, author: str) -> list[TagAcross]:
        tags = [TagAcross(tagged, row.post_id, image_id)
                for statement in self._tagged_in.values()
                async for batch in pages(self._session, statement, (tagged,), _PAGE)
                for row in batch for image_id in row.image_ids or ()]
        rows = await read_post_rows(self._session, list(dict.fromkeys(t.post_id for t in tags)))
        return [t for t in tags if (row := rows.get(t.post_id)) is not None and row.author_id == author]
